"""Where a sweep's runs execute: a local Ray instance and submitit's local executor run the same plan as this
process would, and two sweeps started together on one BENCH_HOME compute each run once."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.api.validate import validate_file
from bench.harness.config import RunConfig
from bench.harness.executors import Executor, Result
from bench.harness.store import list_runs, runs_dir
from bench.harness.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]


def tiny_runs(model, data, seeds):
    return [RunConfig(method="random", task="ner", model=str(model), data=str(data), seed=seed, fraction=0.1,
                      finetune_epochs=1, relearn_steps=4, relearn_checkpoints=(2,), batch_size=8) for seed in seeds]


def assert_store_consistent(run_ids):
    folders = sorted(p.parent for p in runs_dir().glob("*/record.json"))
    assert sorted(p.name for p in folders) == sorted(run_ids)
    for folder in folders:
        validate_file(folder / "record.json")
    assert sorted(r.run_id for r in list_runs()) == sorted(run_ids)


@pytest.fixture
def importable(monkeypatch):
    """Workers (Ray's, submitit's) import this checkout's bench, whatever the environment has installed."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def test_the_ray_executor_runs_a_sweep_on_a_local_two_cpu_instance(tiny_bert_folder, tiny_conll, importable):
    pytest.importorskip("ray")
    from bench.harness.executors.ray import RayExecutor, RayOptions

    executor = RayExecutor(RayOptions(num_cpus=2))
    try:
        outcomes = run_sweep(tiny_runs(tiny_bert_folder, tiny_conll, (0, 1, 2)), executor=executor)
        assert [o.status for o in outcomes] == ["ran"] * 3, [o.error for o in outcomes]
        again = run_sweep(tiny_runs(tiny_bert_folder, tiny_conll, (0, 1, 2)), executor=executor)
    finally:
        executor.close()
    assert [o.status for o in again] == ["recorded"] * 3
    assert_store_consistent([o.record.run_id for o in outcomes])


def test_the_slurm_executor_runs_a_job_array_through_submitits_local_executor(tiny_bert_folder, tiny_conll,
                                                                              importable):
    pytest.importorskip("submitit")
    from bench.harness.executors.slurm import SlurmExecutor, SlurmOptions

    executor = SlurmExecutor(SlurmOptions(cluster="local", cpus_per_run=1, parallelism=2))
    outcomes = run_sweep(tiny_runs(tiny_bert_folder, tiny_conll, (0, 1, 2)), executor=executor)
    assert [o.status for o in outcomes] == ["ran"] * 3, [o.error for o in outcomes]
    assert_store_consistent([o.record.run_id for o in outcomes])


def test_two_sweeps_started_together_with_overlapping_plans_compute_each_run_once(tiny_bert_folder, tiny_conll,
                                                                                  bench_home):
    """Seeds 0-1 and 1-2 of one configuration, at once on one BENCH_HOME: seed 1 is in both plans. Every run is
    computed by exactly one of them, every record validates, and the index matches the run folders."""
    common = ["sweep", "--methods", "random", "--tasks", "ner", "--no-controls", "--fractions", "0.1",
              "--set", f"model={tiny_bert_folder}", "--set", f"data={tiny_conll}", "--set", "finetune_epochs=1",
              "--set", "relearn_steps=4", "--set", "relearn_checkpoints=2", "--set", "batch_size=8"]
    env = {**os.environ, "BENCH_PROGRESS": "0"}
    sweeps = [subprocess.Popen([sys.executable, "-m", "bench", *common, "--seeds", seeds], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for seeds in ("0,1", "1,2")]
    logs = [sweep.communicate(timeout=900)[0] for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0], [log[-1500:] for log in logs]
    started = re.findall(r"^run ([0-9a-f]{16}): method", "\n".join(logs), flags=re.MULTILINE)
    assert len(started) == len(set(started)) == 3  # three distinct runs, each started once
    assert_store_consistent(started)


def test_the_slurm_executor_never_falls_back_to_this_machine_and_accepts_an_empty_plan():
    pytest.importorskip("submitit")
    from bench.core.errors import BenchError
    from bench.harness.executors.slurm import SlurmExecutor, SlurmOptions

    assert list(SlurmExecutor(SlurmOptions()).run([])) == []  # everything recorded: nothing to submit
    if shutil.which("srun") is None:
        with pytest.raises(BenchError, match="cannot use cluster 'slurm'"):
            SlurmExecutor(SlurmOptions())._executor()


class ReportsWithoutRecording(Executor):
    """A worker that says it ran but whose record the driver cannot see (a home that is not shared)."""

    def has_gpu(self):
        return False

    def run(self, runs, *, force=False):
        for position, planned in enumerate(runs):
            yield position, Result(planned.run_id, "ran")


def test_a_run_reported_done_whose_record_the_driver_cannot_see_is_a_failure(tiny_bert_folder, tiny_conll):
    (outcome,) = run_sweep(tiny_runs(tiny_bert_folder, tiny_conll, (0,)), executor=ReportsWithoutRecording())
    assert outcome.status == "failed" and "share this $BENCH_HOME" in outcome.error
