"""The sweep's time estimates come from the stage times this machine recorded, and say when they cannot."""

import dataclasses

import pytest

from bench.core.plugins import TASKS
from bench.harness.config import RunConfig
from bench.harness.costs import CostModel, duration, plan_cost
from bench.harness.planning import PlannedRun
from tests.made_records import made_record

EVALUATIONS = {("unlearned", 0): 10.0, ("relearn", 0): 10.0, ("relearn", 4): 11.0, ("relearn", 16): 12.0,
               ("relearn", 64): 13.0}


def timed_record(seed: int = 0, *, step_seconds: float = 2.0, resumed_at: int = 0, unlearn: float = 5.0,
                 method: str = "random"):
    """A record whose evaluations took EVALUATIONS seconds and whose training steps took `step_seconds`;
    resumed at a checkpoint, "relearn" timed only what came after it (and the unlearned evaluation)."""
    record = made_record(method, seed)
    stages = [dataclasses.replace(s, seconds=EVALUATIONS.get((s.stage, s.step), 99.0)) for s in record.stages]
    after = [s.seconds for s in stages if s.stage == "relearn" and s.step > resumed_at]
    relearn = EVALUATIONS[("unlearned", 0)] + sum(after) + step_seconds * (64 - resumed_at)
    timings = {"setup": 1.0, "prepare": 0.0, "unlearn": unlearn, "relearn": relearn}
    if resumed_at:
        timings["relearn_resumed_at_step"] = float(resumed_at)
    current = dataclasses.replace(record.task, version=TASKS.get("ner").version)
    return dataclasses.replace(record, stages=stages, timings=timings, task=current)


def config(seed: int, method: str = "random", fraction: float | None = 0.1) -> RunConfig:
    return RunConfig(method=method, task="ner", seed=seed, fraction=fraction, model="m", concept="geo-loc")


def test_rates_are_the_evaluations_and_the_training_steps_the_records_timed():
    costs = CostModel.from_records([timed_record(), timed_record(1, step_seconds=4.0)])
    # Step 0 repeats the unlearned scores: it is not an evaluation of its own (and not the base's cached time).
    assert sorted(next(iter(costs.evaluation.values()))) == [10, 10, 11, 11, 12, 12, 13, 13]
    assert sorted(next(iter(costs.step.values()))) == [2.0, 4.0]


def test_a_resumed_run_times_only_the_steps_after_its_checkpoint():
    costs = CostModel.from_records([timed_record(resumed_at=16, step_seconds=3.0)])
    assert next(iter(costs.step.values())) == [pytest.approx(3.0)]


def test_the_estimate_adds_unlearning_evaluations_and_steps_and_the_base_once_per_seed():
    costs = CostModel.from_records([timed_record(0)])
    cfg = dataclasses.replace(config(1), relearn_steps=64, relearn_checkpoints=(4, 16, 64))
    planned = [PlannedRun(cfg, "cpu", "a", False), PlannedRun(dataclasses.replace(cfg, fraction=0.01), "cpu", "b", False),
               PlannedRun(dataclasses.replace(cfg, seed=0), "cpu", "c", False), PlannedRun(cfg, "cpu", "d", True)]
    first, second, recorded_seed, recorded = plan_cost(planned, costs).estimates
    run = 5.0 + 11.5 * (1 + 3) + 2.0 * 64  # unlearning (median), unlearned + 3 checkpoints, 64 steps
    assert first.seconds == pytest.approx(run + 11.5)  # seed 1's base scores are evaluated by its first run
    assert second.seconds == pytest.approx(run)  # unlearning at another budget: the method's median
    assert recorded_seed.seconds == pytest.approx(run)  # seed 0's base scores are cached by the recorded run
    assert recorded is None
    assert plan_cost(planned, costs).total == pytest.approx(3 * run + 11.5)
    # A record of an older task version did not leave the base scores this version needs.
    old = timed_record(0)
    old = dataclasses.replace(old, task=dataclasses.replace(old.task, version=old.task.version - 1))
    assert plan_cost(planned[2:3], CostModel.from_records([old])).estimates[0].seconds == pytest.approx(run + 11.5)


def test_a_pretrained_model_scored_without_sampling_has_one_base_evaluation_for_every_seed():
    from bench.api.record import Preparation
    from bench.models.loading import LoadReport

    def unprepared(task: str):
        record = timed_record(0)
        model = dataclasses.replace(record.model, preparation=Preparation(finetuned=False),
                                    loaded=LoadReport("safetensors", "float32", "float32", "kept"))
        config = {**record.config, "task": task, "finetune_epochs": 0.0}
        return dataclasses.replace(record, model=model, config=config,
                                   task=dataclasses.replace(record.task, name=task, version=TASKS.get(task).version))

    run = 5.0 + 11.5 * (1 + 3) + 2.0 * 64
    for task, base in (("cbt", 0.0), ("ner", 11.5)):
        costs = CostModel.from_records([unprepared(task)])
        cfg = dataclasses.replace(config(1), task=task, finetune_epochs=0.0, relearn_steps=64,
                                  relearn_checkpoints=(4, 16, 64))
        # On cbt (seed-free scoring) the seed reaches neither the model (not fine-tuned, its own head) nor the
        # scores: seed 0's recorded base scores serve seed 1. NER does not declare its scoring seed-free.
        estimate = plan_cost([PlannedRun(cfg, "cpu", "a", False)], costs).estimates[0].seconds
        assert estimate == pytest.approx(run + base)


def test_a_control_that_removes_nothing_is_estimated_without_an_unlearned_evaluation():
    costs = CostModel.from_records([timed_record(0), timed_record(1, method="none", unlearn=0.0)])
    cfg = dataclasses.replace(config(0, method="none"), relearn_steps=64, relearn_checkpoints=(4, 16, 64))
    (estimate,) = plan_cost([PlannedRun(cfg, "cpu", "a", False)], costs).estimates
    assert estimate.seconds == pytest.approx(11.5 * 3 + 2.0 * 64)


def test_what_was_never_measured_is_not_estimated_and_the_summary_says_so():
    costs = CostModel.from_records([timed_record(0)])
    planned = [PlannedRun(config(0, method="npo", fraction=None), "cpu", "a", False),
               PlannedRun(config(0), "cuda", "b", False)]
    npo, on_gpu = plan_cost(planned, costs).estimates
    assert npo.seconds is None and npo.missing == ("unlearning (npo)",)
    assert on_gpu.seconds is None and set(on_gpu.missing) == {"evaluation", "relearning step", "unlearning (random)"}
    assert "2 not estimated" in plan_cost(planned, costs).summary() and str(npo) == "?"


def test_durations_read_as_minutes_and_hours():
    assert duration(42) == "42 s" and duration(46 * 60) == "46 min" and duration(5 * 3600 + 44 * 60) == "5 h 44 min"
