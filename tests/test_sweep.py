"""Sweeps: the grid, its controls, the settings' precedence, bad input, and resuming without rerunning."""

import pytest

from bench.cli import main
from bench.core.errors import BenchError, UnknownNameError
from bench.harness.sweep import (
    Budget,
    SweepSpec,
    plan,
    read_sweep_file,
    run_sweep,
    spec_from_dict,
)


def test_the_plan_puts_seeds_outermost_and_the_controls_first():
    spec = SweepSpec(methods=("concept-neurons",), tasks=("ner",), seeds=(0, 1), budgets=(Budget(0.1), Budget(k=7)))
    runs = [(c.seed, c.method, c.fraction, c.k) for c in plan(spec)]
    # `none` ignores the budget: it runs once per seed and task, and controls every budget.
    assert runs[:5] == [(0, "random", 0.1, None), (0, "none", 0.1, None), (0, "concept-neurons", 0.1, None),
                        (0, "random", None, 7), (0, "concept-neurons", None, 7)]
    assert len(runs) == 10 and {seed for seed, *_ in runs[5:]} == {1}
    assert [c.method for c in plan(SweepSpec(("random",), ("ner",), seeds=(0,), controls=False))] == ["random"]


def test_the_never_learned_control_runs_once_per_seed_and_only_where_the_task_can_have_it():
    spec = SweepSpec(methods=("never-learned",), tasks=("ner", "cbt"), seeds=(0,), budgets=(Budget(0.1), Budget(0.2)))
    runs = [(c.task, c.method) for c in plan(spec)]
    # cbt's cloze comes from pretraining: no preparation without the concept, so no run (its page says why).
    assert ("ner", "never-learned") in runs and ("cbt", "never-learned") not in runs
    assert runs.count(("ner", "never-learned")) == 1  # it ignores the unit budget, as `none` does


def test_settings_go_run_then_task_then_method_and_option_tables_merge():
    spec = spec_from_dict({
        "seeds": [3],
        "run": {"relearn_steps": 16, "task_options": {"eval_split": "dev"}},
        "tasks": {"ner": {"relearn_steps": 64, "k": 50}},
        "methods": {"concept-neurons": {"method_options": {"ranker": "probe"}, "relearn_lr": 1e-3}},
    }, "test.toml")
    controls, method = plan(spec)[0], plan(spec)[2]
    assert method.method == "concept-neurons" and method.seed == 3
    assert method.relearn_steps == 64 and method.k == 50 and method.fraction is None  # the task's budget
    assert method.relearn_lr == 1e-3 and controls.relearn_lr != 1e-3  # a method's table is its own
    assert method.method_options == {"ranker": "probe"} and method.task_options == {"eval_split": "dev"}
    # A grid budget replaces the budget of the tables.
    grid = spec_from_dict({"fractions": [0.2], "tasks": {"ner": {"k": 50}}, "methods": {"random": {}}}, "t")
    assert {(c.fraction, c.k) for c in plan(grid)} == {(0.2, None)}


def test_a_list_of_option_tables_runs_a_method_in_variants_each_over_the_whole_grid():
    spec = spec_from_dict({"seeds": [0, 1], "ks": [5],
                           "methods": {"concept-neurons": {"method_options": [{"ranker": "raw"}, {"ranker": "standardized"}],
                                                           "relearn_lr": 1e-3}}, "tasks": {"ner": {}}}, "t")
    runs = [(c.seed, c.method, c.method_options.get("ranker"), c.relearn_lr) for c in plan(spec) if c.method != "none"]
    assert [r[:3] for r in runs] == [(0, "random", None), (0, "concept-neurons", "raw"), (0, "concept-neurons", "standardized"),
                                     (1, "random", None), (1, "concept-neurons", "raw"), (1, "concept-neurons", "standardized")]
    assert {r[3] for r in runs if r[1] == "concept-neurons"} == {1e-3}
    with pytest.raises(BenchError, match="method_options must be a table or a list of tables"):
        spec_from_dict({"tasks": ["ner"], "methods": {"random": {"method_options": [1]}}}, "t")


def test_every_entry_meets_every_attack_and_the_attacks_on_one_unlearned_model_are_planned_together():
    spec = spec_from_dict({"seeds": [0], "ks": [5], "methods": ["concept-neurons"], "tasks": ["ner"],
                           "controls": False, "attacks": {"finetune": {"relearn_lr": 1e-3}, "lora": {},
                                                          "quantize": {"attack_options": [{"bits": 4}, {"bits": 8}]}}},
                          "t")
    runs = [(c.attack, c.attack_options, c.relearn_lr) for c in plan(spec)]
    assert runs == [("finetune", {}, 1e-3), ("lora", {}, 2e-4), ("quantize", {"bits": 4}, 2e-4),
                    ("quantize", {"bits": 8}, 2e-4)]
    listed = spec_from_dict({"seeds": [0, 1], "ks": [5], "methods": ["random"], "tasks": ["ner"], "controls": False,
                             "attacks": ["retain-only", "unrelated"]}, "t")
    assert [(c.seed, c.attack) for c in plan(listed)] == [(0, "retain-only"), (0, "unrelated"),
                                                         (1, "retain-only"), (1, "unrelated")]
    assert {c.attack for c in plan(spec_from_dict({"methods": ["random"], "tasks": ["ner"], "ks": [5]}, "t"))} == {
        "finetune"}  # no attacks named: each run's own
    with pytest.raises(UnknownNameError, match="unknown relearning attack 'lorra'.*did you mean 'lora'"):
        plan(spec_from_dict({"methods": ["random"], "tasks": ["ner"], "attacks": ["lorra"]}, "t"))
    with pytest.raises(BenchError, match=r"\[attacks.quantize\] attack_options must be a table or a list of tables"):
        spec_from_dict({"methods": ["random"], "tasks": ["ner"], "attacks": {"quantize": {"attack_options": [4]}}}, "t")


def test_a_training_attack_runs_once_per_learning_rate_and_a_rate_for_an_attack_that_does_not_train_is_refused():
    spec = spec_from_dict({"seeds": [0], "ks": [5], "methods": ["random"], "tasks": ["ner"], "controls": False,
                           "attacks": {"finetune": {"relearn_lr": [2e-5, 1e-4]}, "lora": {"relearn_lr": [1e-4]},
                                       "quantize": {"attack_options": [{"bits": 4}]}}}, "t")
    assert [(c.attack, c.relearn_lr) for c in plan(spec)] == [("finetune", 2e-5), ("finetune", 1e-4),
                                                               ("lora", 1e-4), ("quantize", 2e-4)]
    with pytest.raises(BenchError, match=r"\[attacks.quantize\] relearn_lr: quantize does not train"):
        plan(spec_from_dict({"methods": ["random"], "tasks": ["ner"],
                             "attacks": {"quantize": {"relearn_lr": [1e-4, 2e-4]}}}, "t"))
    with pytest.raises(BenchError, match="distinct positive rates"):
        plan(spec_from_dict({"methods": ["random"], "tasks": ["ner"], "attacks": {"lora": {"relearn_lr": [1e-4, 1e-4]}}},
                            "t"))
    with pytest.raises(BenchError, match=r"relearn_lr must be a list of numbers"):
        spec_from_dict({"methods": ["random"], "tasks": ["ner"], "attacks": {"lora": {"relearn_lr": ["fast"]}}}, "t")


def test_a_pinned_file_can_be_narrowed_to_some_tasks_and_methods_from_the_command_line(tmp_path):
    pinned = tmp_path / "sweep.toml"
    pinned.write_text('seeds = [0]\n[tasks.ner]\n[tasks.toxicity]\nk = 92\n[methods.concept-neurons]\n[methods.snip]\n')
    from bench.cli import build_parser
    from bench.cli.sweep import grid_overrides
    from bench.harness.sweep import read_sweep_file, with_overrides

    args = build_parser().parse_args(["sweep", "--config", str(pinned), "--tasks", "ner", "--methods", "snip"])
    spec = with_overrides(read_sweep_file(pinned), grid_overrides(args))
    assert [(c.task, c.method) for c in plan(spec)] == [("ner", "random"), ("ner", "none"), ("ner", "snip")]
    typo = spec_from_dict({"tasks": {"ner": {}}, "methods": {"random": {}}}, "t")
    with pytest.raises(UnknownNameError, match="unknown task 'nerr'"):
        plan(SweepSpec(methods=typo.methods, tasks=typo.tasks, task_settings={"nerr": {}}))


def test_bad_sweeps_are_refused_with_the_reason(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown method 'nope'.*choices: .*concept-neurons"):
        plan(SweepSpec(methods=("nope",), tasks=("ner",)))
    with pytest.raises(UnknownNameError, match="unknown task 'ner2'.*did you mean 'ner'"):
        plan(SweepSpec(methods=("random",), tasks=("ner2",)))
    with pytest.raises(BenchError, match="unknown setting.*'relearn_stepz'"):
        spec_from_dict({"methods": ["random"], "tasks": ["ner"], "run": {"relearn_stepz": 3}}, "s.toml")
    with pytest.raises(BenchError, match="s.toml: unknown key.*'metods'"):
        spec_from_dict({"metods": ["random"]}, "s.toml")
    with pytest.raises(BenchError, match="seeds must be a list of ints"):
        spec_from_dict({"methods": ["random"], "tasks": ["ner"], "seeds": "0,1"}, "s.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("methods = [\n")
    with pytest.raises(BenchError, match="bad.toml"):
        read_sweep_file(bad)
    assert main(["sweep", "--methods", "random,nope", "--tasks", "ner", "--dry-run"]) == 2
    with pytest.raises(SystemExit) as exit_code:  # one prints the plan, the other writes it: not both
        main(["sweep", "--methods", "random", "--tasks", "ner", "--dry-run", "--plan", "-"])
    assert exit_code.value.code == 2


def test_a_sweep_resumes_where_it_stopped_and_skips_recorded_runs(tiny_sweep, monkeypatch):
    config, records, home = tiny_sweep
    assert sorted(p.parent.name for p in records.rglob("*.json")) == ["concept-neurons"] * 3 + ["none"] * 3 + ["random"] * 3
    monkeypatch.setenv("BENCH_HOME", str(home))
    configs = plan(read_sweep_file(config))
    # An interrupted sweep: remove one record; the rerun computes exactly that one and skips the rest.
    from bench.harness.protocol import resolve_run
    from bench.harness.store import run_folder

    lost = resolve_run(configs[4]).run_id
    (run_folder(lost) / "record.json").unlink()
    assert [o.status for o in run_sweep(configs, run_missing=False)].count("missing") == 1  # runs nothing
    outcomes = run_sweep(configs)
    assert [o.status for o in outcomes].count("recorded") == 8
    assert [(o.status, o.record.run_id) for o in outcomes if o.status != "recorded"] == [("ran", lost)]


def test_a_sweep_on_a_fresh_machine_resumes_from_the_records_committed_under_its_export_folder(
        tiny_sweep, tmp_path, monkeypatch, capsys):
    config, records, _ = tiny_sweep
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "fresh-home"))  # an empty store: a new machine or session
    assert main(["sweep", "--config", str(config), "--export", str(records), "--recorded-only"]) == 0
    printed = capsys.readouterr().out
    assert "imported 9 records" in printed and "0 ran, 9 already recorded" in printed
    from bench.harness.store import list_runs

    exported = {p.stem for p in records.rglob("*.json")}
    assert {row.run_id for row in list_runs()} == exported
    # Imported with their per-example columns, so every interval can still be recomputed from the store.
    from bench.harness.store import find, run_folder

    for run_id in exported:
        assert (run_folder(run_id) / find(run_id).evaluation.file).exists()


def test_a_committed_record_that_is_not_the_planned_run_or_lacks_its_columns_is_run_again_not_imported(
        tiny_sweep, tmp_path, monkeypatch, capsys):
    import json
    import shutil

    config, records, _ = tiny_sweep
    committed = tmp_path / "records"
    shutil.copytree(records, committed)
    other_config, no_columns = sorted(committed.rglob("*.json"))[:2]
    raw = json.loads(other_config.read_text())
    raw["config"]["relearn_lr"] = 0.5  # same id, other config: not this run
    other_config.write_text(json.dumps(raw))
    no_columns.with_suffix(".npz").unlink()  # a record whose columns never landed
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "fresh-home"))
    # A dry run counts what it would import and writes nothing.
    assert main(["sweep", "--config", str(config), "--export", str(committed), "--dry-run"]) == 0
    assert not (tmp_path / "fresh-home" / "runs").exists() or not any((tmp_path / "fresh-home" / "runs").iterdir())
    capsys.readouterr()
    assert main(["sweep", "--config", str(config), "--export", str(committed), "--recorded-only"]) == 0
    printed = capsys.readouterr().out
    assert "imported 7 records" in printed and "2 not recorded" in printed
    assert "its id or config differs" in printed and "per-example columns" in printed


def test_a_task_may_run_more_seeds_than_the_others_and_a_command_lines_seeds_replace_them():
    from bench.harness.sweep import GridOverrides, with_overrides

    spec = spec_from_dict({"methods": ["random"], "tasks": {"ner": {"seeds": [0, 1, 2, 3]}, "cbt": {}},
                           "seeds": [0, 1], "controls": False, "ks": [5]}, "s.toml")
    runs = [(c.task, c.seed) for c in plan(spec)]
    assert runs == [("ner", 0), ("cbt", 0), ("ner", 1), ("cbt", 1), ("ner", 2), ("ner", 3)]
    narrowed = with_overrides(spec, GridOverrides(seeds=[3]))
    assert [(c.task, c.seed) for c in plan(narrowed)] == [("ner", 3), ("cbt", 3)]
    with pytest.raises(BenchError, match="seeds must be a list of ints"):
        spec_from_dict({"methods": ["random"], "tasks": {"ner": {"seeds": "all"}}}, "s.toml")
