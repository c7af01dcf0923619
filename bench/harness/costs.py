"""How long planned runs will take here, from what this machine measured in the runs it recorded.

Every record keeps its stage times (`timings`: preparation, unlearning, relearning; each evaluation's own
`seconds`). From them this module learns four rates per setting, each the median over the recorded runs
that share it, and adds them up for a planned run:

    preparation (when no recorded run shares the run's prepared model)
  + one base evaluation (when no recorded run shares its base scores: cached per seed, or once for
    all seeds where no seed reaches them)
  + unlearning
  + one evaluation of the unlearned model (none for a control that removes nothing: it reuses the base
    scores) and one per relearning checkpoint after step 0
  + relearning steps × seconds per step

A rate nobody measured yet (a new task, model or device) is missing, and so is that run's estimate: the
plan says how many runs it could not estimate rather than guess. The medians are of this machine as it
was used: runs that shared it with other work measured slower.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.api.record import Record, read_record
from bench.core.errors import BenchError
from bench.core.plugins import ATTACKS, METHODS, TASKS
from bench.harness.config import RunConfig


def _options(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# The settings each rate depends on (everything else about a run does not change it much).
def evaluation_key(config: dict[str, Any], device: str) -> tuple:
    return (config["task"], config["model"], device, _options(config["task_options"]),
            config.get("max_eval_examples"), config.get("eval_batch_size"))


def step_key(config: dict[str, Any], device: str) -> tuple:
    # An attack's step costs what its training costs (a LoRA step is not a full fine-tuning step).
    return (config["task"], config["model"], device, config.get("batch_size"), _options(config["task_options"]),
            config.get("attack", "finetune"))


def unlearn_key(config: dict[str, Any], device: str) -> tuple:
    return (config["method"], _options(config["method_options"]), config["task"], config["model"], device,
            _options(config["task_options"]), config.get("fraction"), config.get("k"))


def method_key(config: dict[str, Any], device: str) -> tuple:
    """A coarser key for unlearning: the same method on the same task and model at another budget."""
    return config["method"], config["task"], config["model"], device


def base_key(config: dict[str, Any], device: str, task_version: int | None, seeded: bool = True) -> tuple:
    """The base scores are cached per task version, and per seed where the seed reaches them
    (bench.harness.caches.base_evaluation): `seeded` False for a pretrained model scored without sampling."""
    return (*evaluation_key(config, device), config["seed"] if seeded else None, task_version)


def model_key(config: dict[str, Any], device: str) -> tuple:
    """A model as the base evaluation sees it: a record of it says whether the seed reaches its scores."""
    return config["task"], config["model"], device, config.get("finetune_epochs")


def prepare_key(config: dict[str, Any], device: str, task_version: int | None) -> tuple:
    """A prepared model is cached per seed; a new task version may prepare on other data."""
    return config["task"], config["model"], device, config["seed"], config.get("finetune_epochs"), task_version


def _base_depends_on_seed(name: str, finetuned: bool, head: str | None) -> bool:
    try:
        return TASKS.get(name).base_depends_on_seed(finetuned, head)
    except BenchError:  # a task not installed here: assume the seed matters (never under-estimate)
        return True


def _task_version(name: str) -> int | None:
    try:
        return TASKS.get(name).version
    except BenchError:  # a task whose plug-in is not installed here: its runs are estimated without it
        return None


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None: a rate it needs was never measured here
    missing: tuple[str, ...] = ()  # which rates were missing

    def __str__(self) -> str:
        return duration(self.seconds)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@dataclass
class CostModel:
    evaluation: dict[tuple, list[float]] = field(default_factory=lambda: defaultdict(list))
    step: dict[tuple, list[float]] = field(default_factory=lambda: defaultdict(list))
    unlearn: dict[tuple, list[float]] = field(default_factory=lambda: defaultdict(list))
    unlearn_any_budget: dict[tuple, list[float]] = field(default_factory=lambda: defaultdict(list))
    prepare: dict[tuple, list[float]] = field(default_factory=lambda: defaultdict(list))  # first preparations
    base_keys: set[tuple] = field(default_factory=set)  # base scores some recorded run computed
    # (task, model, device) whose base scores no seed reaches: unprepared, the checkpoint's own head, no sampling
    seed_free_bases: set[tuple] = field(default_factory=set)
    prepare_keys: set[tuple] = field(default_factory=set)  # prepared models some recorded run made
    runs: int = 0

    def learn(self, record: Record) -> None:
        """Add one record's measured times."""
        config, device = record.config, record.provenance.device.get("type", "cpu")
        timings = record.timings
        self.runs += 1
        loaded = record.model.loaded
        seeded = _base_depends_on_seed(config["task"], record.model.preparation.finetuned,
                                       loaded.head if loaded is not None else None)
        if not seeded:
            self.seed_free_bases.add(model_key(config, device))
        self.base_keys.add(base_key(config, device, record.task.version, seeded))
        self.prepare_keys.add(prepare_key(config, device, record.task.version))
        # Step 0 of relearning repeats the unlearned scores (it is not evaluated again).
        evaluated = [s for s in record.stages if s.stage == "unlearned" or (s.stage == "relearn" and s.step > 0)]
        evaluated = [s for s in evaluated if s.seconds > 0]  # 0 s: scores reused (a control's unlearned = base)
        self.evaluation[evaluation_key(config, device)] += [s.seconds for s in evaluated]
        resumed = int(timings.get("relearn_resumed_at_step", 0))
        steps = record.summary.relearn_steps - resumed
        if "relearn" in timings and steps > 0:
            # "relearn" times the unlearned evaluation, the training steps after a resumption and the
            # checkpoint evaluations after it.
            evaluations = sum(s.seconds for s in evaluated if s.stage == "unlearned" or s.step > resumed)
            training = timings["relearn"] - evaluations
            if training > 0:
                self.step[step_key(config, device)].append(training / steps)
        if "unlearn" in timings:  # what unlearning costs, also where this run loaded another run's unlearned model
            seconds = timings.get("unlearn_first", timings["unlearn"])
            self.unlearn[unlearn_key(config, device)].append(seconds)
            self.unlearn_any_budget[method_key(config, device)].append(seconds)
        if timings.get("prepare", 0) > 0:
            self.prepare[(config["task"], config["model"], device)].append(timings["prepare"])

    @classmethod
    def from_records(cls, records: Iterable[Record]) -> CostModel:
        model = cls()
        for record in records:
            model.learn(record)
        return model

    @classmethod
    def from_store(cls) -> CostModel:
        """From every readable record in this machine's store (an unreadable one is skipped: `bench runs
        --reindex` names it)."""
        from bench.harness.store import IMPORTED_MARK, runs_dir

        model = cls()
        for path in sorted(runs_dir().glob("*/record.json")):
            if (path.parent / IMPORTED_MARK).exists():  # made elsewhere: neither its rates nor its caches are here
                continue
            try:
                model.learn(read_record(path))
            except BenchError:
                continue
        return model

    def estimate(self, cfg: RunConfig, device: str, *, base_done: bool, prepared: bool) -> Estimate:
        """Seconds for `cfg` on `device`; `base_done` / `prepared`: the base scores / the prepared model
        exist already (recorded, or computed by a run planned before this one)."""
        config = cfg.to_dict()
        missing: list[str] = []

        def median(values: Sequence[float] | None, what: str) -> float:
            if not values:
                missing.append(what)
                return 0.0
            return statistics.median(values)

        evaluation = median(self.evaluation.get(evaluation_key(config, device)), "evaluation")
        trains = ATTACKS.get(cfg.attack).trains
        step = median(self.step.get(step_key(config, device)), "relearning step") if trains else 0.0
        unlearn_times = self.unlearn.get(unlearn_key(config, device)) or self.unlearn_any_budget.get(
            method_key(config, device))
        unlearn = median(unlearn_times, f"unlearning ({cfg.method})")
        # A control that removes nothing reuses the base scores for its unlearned model.
        unlearned_evaluations = 0 if METHODS.get(cfg.method).budget_free else 1
        # An attack that does not train evaluates once per checkpoint of its own (one for a quantization; an
        # in-context ladder has more, which this counts as one).
        checkpoints = sum(1 for c in cfg.checkpoints() if c > 0) if trains else 1
        seconds = unlearn + evaluation * (unlearned_evaluations + checkpoints) + step * cfg.relearn_steps
        if not base_done:
            seconds += evaluation
        if not prepared:
            # The first run on a seed's prepared model makes it; a task that prepares nothing measured 0.
            seconds += max(self.prepare.get((cfg.task, cfg.model, device), [0.0]))
        return Estimate(None if missing else seconds, tuple(missing))


@dataclass(frozen=True)
class PlanCost:
    estimates: list[Estimate | None]  # per planned run; None: recorded (nothing to run)

    @property
    def total(self) -> float:
        return sum(e.seconds for e in self.estimates if e is not None and e.seconds is not None)

    @property
    def unknown(self) -> int:
        return sum(1 for e in self.estimates if e is not None and e.seconds is None)

    def summary(self) -> str:
        to_run = sum(1 for e in self.estimates if e is not None)
        text = f"{to_run} runs to run, estimated {duration(self.total)} on this machine"
        if self.unknown:
            text += f" ({self.unknown} not estimated: nothing like them was measured here yet)"
        return text


def plan_cost(planned, costs: CostModel) -> PlanCost:
    """Estimates for a plan (bench.harness.planning.PlannedRun), in order: runs planned earlier make the base
    scores and prepared models later ones reuse."""
    base_done, prepared = set(costs.base_keys), set(costs.prepare_keys)
    estimates: list[Estimate | None] = []
    for run in planned:
        if run.recorded or run.error is not None:
            estimates.append(None)
            continue
        config = run.config.to_dict()
        version = _task_version(run.config.task)
        seeded = model_key(config, run.device) not in costs.seed_free_bases
        b, p = base_key(config, run.device, version, seeded), prepare_key(config, run.device, version)
        estimates.append(costs.estimate(run.config, run.device, base_done=b in base_done, prepared=p in prepared))
        base_done.add(b)
        prepared.add(p)
    return PlanCost(estimates)
