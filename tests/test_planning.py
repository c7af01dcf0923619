"""The plan: every run's id and device, computed without loading weights it has seen, and checked where the
run executes."""

import io
import json

import pytest

from bench.cli import main
from bench.core.errors import BenchError
from bench.harness.config import RunConfig
from bench.harness.planning import PlannedRun, plan_runs, write_plan
from bench.harness.protocol import resolve_run


def configs(tiny_bert_folder, tiny_conll, seeds=(0, 1)):
    return [RunConfig(method="random", task="ner", model=str(tiny_bert_folder), data=str(tiny_conll), seed=seed,
                      fraction=0.1, relearn_steps=4) for seed in seeds]


def test_a_plan_loads_no_weights_it_has_seen_and_gives_the_ids_the_runs_compute(tiny_bert_folder, tiny_conll,
                                                                                 monkeypatch):
    first = plan_runs(configs(tiny_bert_folder, tiny_conll), "cpu")  # learns the model's facts (one load)
    import bench.models.loading as loading

    def no_loading(*args, **kwargs):
        raise AssertionError("the plan loaded weights it had seen")

    monkeypatch.setattr(loading, "load_model", no_loading)
    again = plan_runs(configs(tiny_bert_folder, tiny_conll), "cpu")
    assert [p.run_id for p in again] == [p.run_id for p in first] and len({p.run_id for p in first}) == 2
    monkeypatch.undo()
    assert [resolve_run(p.config).run_id for p in again] == [p.run_id for p in again]


def test_replaced_weights_are_loaded_again_and_a_stale_plan_is_refused(tiny_bert_folder, tiny_conll):
    import torch
    from safetensors.torch import load_file, save_file

    planned = plan_runs(configs(tiny_bert_folder, tiny_conll, seeds=(0,)), "cpu")[0]
    weights = tiny_bert_folder / "model.safetensors"
    tensors = load_file(weights)
    name = next(k for k in tensors if "encoder" in k and k.endswith("weight"))
    tensors[name] = tensors[name] + torch.ones_like(tensors[name])
    save_file(tensors, weights, metadata={"format": "pt"})
    replanned = plan_runs([planned.config], "cpu")[0]
    assert replanned.run_id != planned.run_id  # the stamp changed: the plan looked at the new weights
    with pytest.raises(BenchError, match=f"run {planned.run_id} was planned, but"):
        resolve_run(planned.config, device="cpu", planned_id=planned.run_id)


def test_the_plan_fixes_the_device_and_survives_json_lines(tiny_bert_folder, tiny_conll):
    cuda = plan_runs(configs(tiny_bert_folder, tiny_conll, seeds=(0,)), "cuda")[0]
    cpu = plan_runs(configs(tiny_bert_folder, tiny_conll, seeds=(0,)), "cpu")[0]
    assert cuda.device == "cuda" and cuda.run_id != cpu.run_id  # planned for GPU nodes on a CPU-only machine
    handle = io.StringIO()
    write_plan([cuda, cpu], handle)
    lines = [json.loads(line) for line in handle.getvalue().splitlines()]
    assert [PlannedRun.from_json(line) for line in lines] == [cuda, cpu]


def test_bench_sweep_plan_writes_json_lines_and_names_a_run_it_cannot_plan(tiny_bert_folder, tiny_conll, capsys):
    args = ["sweep", "--methods", "random", "--tasks", "ner", "--seeds", "0", "--no-controls", "--plan", "-",
            "--set", f"model={tiny_bert_folder}", "--set", f"data={tiny_conll}"]
    assert main([*args, "--fractions", "0.1"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    planned = json.loads(line)
    assert planned["recorded"] is False and planned["device"] == "cpu" and len(planned["run_id"]) == 16
    assert main([*args, "--ks", "100000"]) == 1  # more units than the model has
    assert "error" in json.loads(capsys.readouterr().out)


def test_an_unknown_executor_lists_the_choices(capsys):
    assert main(["sweep", "--methods", "random", "--tasks", "ner", "--executor", "kubernetes", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "kubernetes" in err and all(name in err for name in ("local", "ray", "slurm"))


def test_a_device_the_config_names_wins_over_the_plans(tiny_bert_folder, tiny_conll):
    named = [RunConfig(method="random", task="ner", model=str(tiny_bert_folder), data=str(tiny_conll), fraction=0.1,
                       device="cpu")]
    on_gpus, on_cpus = plan_runs(named, "cuda")[0], plan_runs(named, "cpu")[0]
    assert on_gpus.device == "cpu" and on_gpus.run_id == on_cpus.run_id
