"""A leaderboard page says which runs of its pinned grid it lacks, and why; without a reason it is refused."""

from pathlib import Path

import pytest

from bench.cli import main
from bench.core.errors import BenchError
from bench.results.leaderboard import build_boards
from bench.results.pages import markdown
from bench.results.scope import read_scope, scope_notes
from tests.made_records import made_record, made_sweep

ROOT = Path(__file__).resolve().parents[1]
CURVES = [(0.2, 0.3, 0.4, 0.5)] * 3
# The fine-tune's rate in the grid's runs (NER's quick profile): a record at another rate is another attack.
LR = 2e-4


def sweep(methods=("none", "random", "concept-neurons"), lr=LR):
    return made_sweep({m: CURVES for m in methods}, relearn_lr=lr)
GRID = """methods = ["concept-neurons"]
tasks = ["ner"]
seeds = [0, 1, 2]
fractions = [0.1, 0.2]
"""


def scope_file(tmp_path, why: str) -> str:
    (tmp_path / "sweep.toml").write_text(GRID)
    (tmp_path / "scope.toml").write_text(f'sweep = "sweep.toml"\n{why}')
    return str(tmp_path / "scope.toml")


def test_the_page_lists_the_grid_runs_without_records_and_the_reason(tmp_path):
    # Recorded: every method at 0.1 (made records), none once per seed; the grid's 0.2 budget is not.
    records = sweep()
    scope = read_scope(Path(scope_file(tmp_path, '[why]\nner = "the CPU ran out."\n')))
    (board,) = build_boards(records)
    board.left_out = scope_notes(scope, records, ["ner"])["ner"]
    page = markdown(board)
    assert ("Left out of the pinned grid (sweep.toml): random at 0.2 of units (seeds 0, 1, 2); concept-neurons at "
            "0.2 of units (seeds 0, 1, 2). Why: the CPU ran out.") in page


def test_a_missing_control_that_ignores_the_budget_is_listed_once_per_seed(tmp_path):
    records = [r for r in sweep()
               if not (r.method.name == "none" and r.config["seed"] == 2)]
    scope = read_scope(Path(scope_file(tmp_path, '[why]\nner = "the CPU ran out."\n')))
    note = scope_notes(scope, records, ["ner"])["ner"]
    assert "none at any budget (one run per seed) (seed 2)" in note


def test_runs_of_an_older_task_version_are_not_runs_of_the_grid(tmp_path):
    import dataclasses

    records = sweep()
    # Seed 0 of every method has been run again under task version 2: seeds 1 and 2 are of the old version only.
    newer = [dataclasses.replace(r, task=dataclasses.replace(r.task, version=2)) for r in records if r.config["seed"] == 0]
    scope = read_scope(Path(scope_file(tmp_path, '[why]\nner = "version 2 is being run."\n')))
    note = scope_notes(scope, records + newer, ["ner"])["ner"]
    assert "none at any budget (one run per seed) (seeds 1, 2)" in note
    assert "concept-neurons at 0.1 of units (seeds 1, 2)" in note


def test_the_seeds_the_grid_asks_for_replace_the_sweep_files(tmp_path):
    # An evidence sweep pins the one seed it ran; its scope names the power analysis's seeds, which the page lists.
    # Two attack configurations: an entry's seed is listed once, not once per configuration.
    records = sweep(lr=1e-4) + sweep(lr=2e-4)
    (tmp_path / "sweep.toml").write_text(GRID.replace("[0.1, 0.2]", "[0.1]").replace("[0, 1, 2]", "[0]") +
                                         "[attacks.finetune]\nrelearn_lr = [1e-4, 2e-4]\n")
    (tmp_path / "scope.toml").write_text('sweep = "sweep.toml"\nseeds = [0, 1, 2, 3]\n[why]\nner = "one seed ran."\n')
    note = scope_notes(read_scope(tmp_path / "scope.toml"), records, ["ner"])["ner"]
    assert "concept-neurons at 0.1 of units (seed 3)" in note and "none at any budget (one run per seed) (seed 3)" in note
    assert "3, 3" not in note
    (tmp_path / "scope.toml").write_text('sweep = "sweep.toml"\nseeds = [0, 0]\n')
    with pytest.raises(BenchError, match="scope.toml: seeds must be a list of distinct non-negative integers"):
        read_scope(tmp_path / "scope.toml")


def test_a_complete_grid_needs_no_reason_and_says_nothing(tmp_path):
    records = sweep()
    (tmp_path / "sweep.toml").write_text(GRID.replace("[0.1, 0.2]", "[0.1]"))
    (tmp_path / "scope.toml").write_text('sweep = "sweep.toml"\n')
    assert scope_notes(read_scope(tmp_path / "scope.toml"), records, ["ner"]) == {}


def test_a_board_that_leaves_runs_out_without_a_reason_is_refused(tmp_path, capsys):
    records = sweep()
    scope = read_scope(Path(scope_file(tmp_path, "")))
    with pytest.raises(BenchError, match=r"the ner board leaves 2 .* say why in the scope file's \[why\] table"):
        scope_notes(scope, records, ["ner"])


def test_a_malformed_scope_file_names_the_file(tmp_path, capsys):
    (tmp_path / "scope.toml").write_text('sweep = "sweep.toml"\nwhy = { ner = "" }\n')
    with pytest.raises(BenchError, match="scope.toml: \\[why\\] must map each task to a non-empty reason"):
        read_scope(tmp_path / "scope.toml")
    assert main(["leaderboard", "build", "--records", str(ROOT / "leaderboards/records/ner"), "--scope",
                 str(tmp_path / "nowhere.toml"), "--out", str(tmp_path / "out")]) != 0
    assert "scope file" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_grid_of_several_sweep_files_lists_what_each_lacks(tmp_path):
    # A grid whose defenders are tuned per task is one sweep file per task: the scope names them all.
    records = sweep()
    (tmp_path / "sweep.toml").write_text(GRID)
    (tmp_path / "defenders.toml").write_text('methods = ["grad-ascent"]\ntasks = ["ner"]\nseeds = [0]\n'
                                             'controls = false\n')
    (tmp_path / "scope.toml").write_text('sweep = ["sweep.toml", "defenders.toml"]\n[why]\nner = "time."\n')
    note = scope_notes(read_scope(tmp_path / "scope.toml"), records, ["ner"])["ner"]
    assert note.startswith("Left out of the pinned grid (sweep.toml and defenders.toml): ")
    assert "concept-neurons at 0.2 of units (seeds 0, 1, 2)" in note and "grad-ascent at its default budget (seed 0)" in note


def test_a_run_on_a_smaller_evaluation_set_is_not_a_run_of_the_grid(tmp_path):
    # The grid asks for the task's whole evaluation; a CPU-sized record of the same method and seed does not fill it.
    records = sweep()
    (tmp_path / "sweep.toml").write_text('methods = ["concept-neurons"]\nseeds = [0, 1, 2]\nfractions = [0.1]\n'
                                         '[tasks.ner]\ntask_options = { max_length = 64 }\n')
    (tmp_path / "scope.toml").write_text('sweep = "sweep.toml"\n[why]\nner = "CPU-sized."\n')
    note = scope_notes(read_scope(tmp_path / "scope.toml"), records, ["ner"])["ner"]
    assert "concept-neurons at 0.1 of units (seeds 0, 1, 2)" in note and "none at any budget" in note


def test_a_seed_missing_under_one_attack_only_is_listed_with_that_attack(tmp_path):
    # Every entry has seeds 0-2 under the fine-tune; 4-bit quantization ran at seeds 1 and 2 only (the evidence
    # behind seed 0 ran the fine-tune alone): the page must not count seed 0 as complete.
    (tmp_path / "sweep.toml").write_text(GRID.replace("[0.1, 0.2]", "[0.1]") + "[attacks.finetune]\n"
                                         "[attacks.quantize]\nattack_options = { bits = 4 }\n")
    (tmp_path / "scope.toml").write_text('sweep = "sweep.toml"\n[why]\nner = "seed 0 came from evidence."\n')
    quantized = [made_record(m, s, attack="quantize", attack_options={"bits": 4}, unlearned=0.8 if m == "none" else 0.2)
                 for m in ("none", "random", "concept-neurons") for s in (1, 2)]
    note = scope_notes(read_scope(tmp_path / "scope.toml"), sweep() + quantized, ["ner"])["ner"]
    assert "concept-neurons at 0.1 of units (seed 0 under quantize (bits=4))" in note
    assert "none at any budget (one run per seed) (seed 0 under quantize (bits=4))" in note
    assert "finetune" not in note
    # Seed 3, asked for by the scope and run under neither, is listed once, then seed 0 with its attack.
    (tmp_path / "scope.toml").write_text('sweep = "sweep.toml"\nseeds = [0, 1, 2, 3]\n[why]\nner = "time."\n')
    note = scope_notes(read_scope(tmp_path / "scope.toml"), sweep() + quantized, ["ner"])["ner"]
    assert "concept-neurons at 0.1 of units (seed 3; seed 0 under quantize (bits=4))" in note


def test_an_attack_the_task_refuses_is_not_a_run_the_page_lacks(tmp_path):
    # In-context relearning needs prompts; NER's token classifier has none. The attacker matrix says so; the
    # left-out list must not ask for runs that cannot exist.
    (tmp_path / "sweep.toml").write_text(GRID.replace("[0.1, 0.2]", "[0.1]") + "[attacks.finetune]\n[attacks.in-context]\n")
    (tmp_path / "scope.toml").write_text('sweep = "sweep.toml"\n')
    assert scope_notes(read_scope(tmp_path / "scope.toml"), sweep(), ["ner"]) == {}
