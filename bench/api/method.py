"""The method interface. A method sees the model and the task's data and returns what it removed: a unit
mask, weights it edited in place, or both; it never evaluates. Pruning methods only score units and the
harness selects by budget. Weight-editing methods (gradient ascent, NPO, RMU, ...) declare their own budget
(optimizer steps, learning rate) as typed options and give the one training loop their loss."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from filelock import FileLock
from torch import nn

from bench.api.data import ConceptData, Examples, Paired
from bench.core.errors import BenchError
from bench.core.options import NoOptions
from bench.core.paths import subdir
from bench.models.nll import ExampleNll, example_nll
from bench.models.training import TrainSettings, evaluating, to_device, train
from bench.neurons.activations import (
    UnitStatistics,
    collect_unit_statistics,
    load_statistics,
    save_statistics,
)
from bench.neurons.masks import UnitMask, budget_to_k, select_top_k
from bench.neurons.units import UnitSpace


@dataclass(frozen=True)
class UnlearnContext:
    space: UnitSpace
    concept: ConceptData
    fraction: float | None
    k: int | None
    seed: int
    batch_size: int
    device: torch.device
    tokenizer: Any = field(default=None, compare=False, repr=False)  # the model's, for methods that read text
    autocast_dtype: torch.dtype | None = None  # the run's (bf16 on CUDA): a method's training uses it too
    train_batch_size: int = 8  # the run's training batch size, a weight-editing method's default
    # The task's trainable forget and retain sets (Task.forget_data / retain_data), built when first asked for.
    forget_source: Callable[[], Examples] | None = field(default=None, compare=False, repr=False)
    retain_source: Callable[[], Examples] | None = field(default=None, compare=False, repr=False)
    # What the harness knows of the model being unlearned (its weights' or preparation's key, the device and
    # precision): with it, the concept statistics are cached on disk by content and shared across runs.
    statistics_key: str | None = field(default=None, compare=False)
    # A frontier's steps axis (bench.harness.frontier): a weight-editing method calls `on_checkpoint(step,
    # objective)` at each of these steps of its one unlearning, with its objective measured there. Its schedule is
    # constant after the warmup, so the model at step s is the model an s-step run ends with: shorter budgets cost
    # no extra unlearning.
    checkpoints: tuple[int, ...] = ()
    on_checkpoint: Callable[[int, dict[str, Any]], None] | None = field(default=None, compare=False, repr=False)
    _statistics: dict[str, UnitStatistics] = field(default_factory=dict, compare=False, repr=False)
    _data: dict[str, Examples] = field(default_factory=dict, compare=False, repr=False)

    def forget_data(self) -> Examples:
        """Examples whose labels are the concept's targets only; disjoint from evaluation and relearning data."""
        return self._task_data("forget", self.forget_source)

    def retain_data(self) -> Examples:
        """Examples whose labels are every other target; disjoint from evaluation and relearning data."""
        return self._task_data("retain", self.retain_source)

    def _task_data(self, part: str, source: Callable[[], Examples] | None) -> Examples:
        if part not in self._data:
            if source is None:
                raise BenchError(f"this run provides no {part} data to the method")
            data = source()
            if len(data) == 0:
                raise BenchError(f"the task's {part} data is empty: a weight-editing method has nothing to train on")
            self._data[part] = data
        return self._data[part]

    def concept_statistics(self, model: nn.Module, top_k: int = 0) -> UnitStatistics:
        """Per-label unit statistics of the concept data at the model being unlearned, streamed once and
        shared (the harness's analysis snapshot of the base model reads the same pass)."""
        cached = self._statistics.get("base")
        if cached is None or cached.top_values.shape[1] < top_k:
            cached = self._stored_statistics(model, top_k)
            self._statistics["base"] = cached
        return cached

    def _stored_statistics(self, model: nn.Module, top_k: int) -> UnitStatistics:
        """The pass itself, or its result from an earlier run on the same model, data, space and batching
        (every method and budget of a seed, and every seed where nothing is prepared, share one pass)."""
        n_labels = len(self.concept.label_names)

        def collect() -> UnitStatistics:
            return collect_unit_statistics(model, self.space, self.concept.data.loader(self.batch_size),
                                           n_labels=n_labels, top_k=top_k, description="unit statistics (concept data)")

        if self.statistics_key is None:
            return collect()
        key = json.dumps([self.statistics_key, self.concept.data.digest(), self.concept.label_names, self.space.name,
                          self.batch_size, top_k, 1])
        path = subdir("statistics") / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
        with FileLock(path.with_suffix(".lock")):  # runs starting together stream the data once
            if path.exists():
                return load_statistics(path)
            statistics = collect()
            save_statistics(statistics, path)
            return statistics


UnlearningKind = Literal["mask", "weights", "both", "none"]


@dataclass(frozen=True)
class UnlearningResult:
    """What a method did: a unit mask (the harness applies it), weights it edited in place, or both."""

    mask: UnitMask | None = None
    k_requested: int | None = None  # the budget in units; the mask may hold fewer when the method ranked fewer
    scores: torch.Tensor | None = None  # the ranking behind the mask, when there is one (NaN: not ranked)
    info: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)  # name -> text, written into the run folder
    edited: bool = False  # the method changed the model's weights in place
    budget: dict[str, Any] = field(default_factory=dict)  # what it spent, in its own units (steps, lr, ...)

    def __post_init__(self) -> None:
        if self.mask is None and not self.edited:
            raise BenchError("an unlearning method returned neither a mask nor edited weights")
        if self.mask is not None and self.k_requested is None:
            object.__setattr__(self, "k_requested", self.mask.k)

    @property
    def kind(self) -> UnlearningKind:
        masked = self.mask is not None and self.mask.k > 0
        if masked and self.edited:
            return "both"
        return "mask" if masked else "weights" if self.edited else "none"


@dataclass(frozen=True)
class Grid:
    """The configurations a method is tuned over (`bench frontier`), chosen on validation examples (bench.api.split).

    options: each option's values, crossed (a value that is the default is still named: the grid is explicit).
    epochs: for a weight-editing method, the longest unlearning in passes over its forget data; one unlearning per
    option setting runs that long and is evaluated at log-spaced steps on the way (`steps_axis`).
    fractions: for a pruning method, the shares of the unit space it prunes."""

    options: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    epochs: float | None = None
    fractions: tuple[float, ...] = ()

    def settings(self) -> list[dict[str, Any]]:
        """Every combination of the option values, in the grid's order (the first option varies slowest)."""
        combos: list[dict[str, Any]] = [{}]
        for name, values in self.options.items():
            combos = [{**combo, name: value} for combo in combos for value in values]
        return combos


def steps_axis(longest: int, per_octave: int = 1) -> list[int]:
    """The steps at which one unlearning of `longest` steps is evaluated: from 4, `per_octave` points per doubling
    (1: 4, 8, 16, ...; 2: 4, 6, 8, 11, 16, ...), and `longest`. More points cost evaluations, not unlearning: where
    a method's frontier is steep, a denser axis finds the last step within the collateral bound."""
    steps, i = [], 0
    while (step := round(4 * 2 ** (i / per_octave))) < longest:
        if step not in steps:
            steps.append(step)
        i += 1
    return [*steps, longest]


class Method(ABC):
    version: ClassVar[int] = 1
    description: ClassVar[str] = ""
    # Whether what it removes depends on the run's seed (a random draw); recorded as what a seed varies.
    uses_seed: ClassVar[bool] = False
    seed_effect: ClassVar[str] = "the method's random draw"  # what the seed varies in it, when it uses one
    # Whether it ignores the pruning budget (the `none` control): a sweep runs it once per seed and task, and
    # the leaderboard pairs that run with the entries of every budget.
    budget_free: ClassVar[bool] = False
    # Whether the harness prepares the model without the concept for it (the never-learned control; the task's
    # Task.preparation_without_concept).
    prepares_without_concept: ClassVar[bool] = False
    # Whether its budget is a number of units (--fraction / --k). A weight-editing method's budget is in its
    # own options (steps, learning rate), so its runs have no unit budget.
    unit_budget: ClassVar[bool] = True
    Options: ClassVar[type] = NoOptions
    # Per profile, options that replace the defaults (a config file or the command line still override them).
    profile_options: ClassVar[dict[str, dict[str, Any]]] = {}
    # What `bench frontier` tunes it over (None: nothing to tune, as for the controls).
    grid: ClassVar[Grid | None] = None

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> UnlearningResult: ...

    def label(self, name: str, explicit: dict[str, Any]) -> str:
        """What leaderboards call this method's entries: its name and the options set explicitly. Methods
        whose defaults decide what ran (a ranker, an explainer) name those too, set or not."""
        shown = ", ".join(f"{key}={value}" for key, value in sorted(explicit.items()))
        return f"{name} ({shown})" if shown else name


class PruningMethod(Method):
    """Implement `score_units` (higher = remove first); selection by budget is the harness's job."""

    grid = Grid(fractions=(0.001, 0.01, 0.1))  # the SNIP paper sweeps 0-10% of the units

    @abstractmethod
    def score_units(self, model: nn.Module, ctx: UnlearnContext) -> torch.Tensor:
        """A [layers, width] tensor of scores over `ctx.space`; NaN (`bench.neurons.masks.NOT_RANKED`) for a unit the
        method cannot rank, which is then never pruned."""

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> UnlearningResult:
        k = budget_to_k(ctx.space.total, fraction=ctx.fraction, k=ctx.k)
        scores = self.score_units(model, ctx)
        if tuple(scores.shape) != ctx.space.shape:
            raise BenchError(f"{type(self).__name__}.score_units returned {tuple(scores.shape)}, expected {ctx.space.shape}")
        return UnlearningResult(mask=select_top_k(scores, k, ctx.space.name), k_requested=k, scores=scores.detach().cpu())


@dataclass(frozen=True)
class StepBudget:
    """A weight-editing method's budget: optimizer steps over its forget (and retain) data, which cycles, at a
    constant learning rate after a linear warmup. Methods extend it with their loss's hyperparameters."""

    steps: int = 16
    lr: float = 1e-5  # open-unlearning's rate for every gradient method (gradient ascent is unbounded: it decides)
    batch_size: int | None = None  # None: the run's training batch size
    warmup_steps: int = 0
    weight_decay: float = 0.0  # the published unlearning recipes train without it

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise BenchError(f"steps must be at least 1, got {self.steps}")
        if not self.lr > 0:
            raise BenchError(f"lr must be positive, got {self.lr}")
        if self.batch_size is not None and self.batch_size < 1:
            raise BenchError(f"batch_size must be at least 1, got {self.batch_size}")


PROBE_PAIRS = 32  # forget/retain pairs on which a method's objective is measured before and after unlearning


class ObjectiveMismatch(BenchError):
    """A method's objective rule names a term its objective_terms does not report."""


@dataclass(frozen=True)
class ObjectiveRule:
    """When a method has reached its own objective: one of its terms (as `objective_terms` names it) moved far
    enough between the start and the end of unlearning. `rise`: end − start ≥ threshold; `fall`: end ≤ threshold ×
    start; `at_least`: end ≥ threshold. A run that misses it is recorded so, and the leaderboard does not rank it
    under the method's name."""

    term: str
    direction: Literal["rise", "fall", "at_least"]
    threshold: float
    text: str  # the rule in words, for the record and the page

    def reached(self, start: dict[str, float], end: dict[str, float]) -> bool:
        if self.term not in start or self.term not in end:
            raise ObjectiveMismatch(f"the objective rule watches {self.term!r}, but the method's objective_terms "
                                    f"reports {sorted(start)}")
        before, after = start[self.term], end[self.term]
        if self.direction == "rise":
            return after - before >= self.threshold
        if self.direction == "fall":
            return after <= self.threshold * before
        return after >= self.threshold


# The gradient methods' rule: the concept's targets got at least half as likely per target (their mean NLL rose by
# ln 2 nats). Below it the forget term did not act, whatever the retain term did to the evaluation.
FORGET_NLL_ROSE = ObjectiveRule("forget_nll", "rise", math.log(2),
                                "the forget targets' mean NLL rose by at least ln 2 (their likelihood at least halved)")


class WeightEditingMethod(Method):
    """Implement `loss(model, batch)`: the objective the one training loop minimises for `options.steps` steps
    over `{"forget": batch, "retain": batch}` pairs (bench.api.data.Paired). `prepare` runs before the first step
    (a frozen reference model, which parameters train) and `finish` after the last, even on failure.

    The objective's terms (`objective_terms`) are measured on a fixed probe batch before the first step and after
    the last, and `objective` says which term must move how far for the method to have done what it is named for
    (None: a control with no forget term)."""

    unit_budget = False
    uses_seed = True
    seed_effect = "the unlearning's data order"
    Options: ClassVar[type] = StepBudget
    objective: ClassVar[ObjectiveRule | None] = FORGET_NLL_ROSE

    def label(self, name: str, explicit: dict[str, Any]) -> str:
        """Its options but the budget (steps, learning rate, ...): the leaderboard shows the budget in a column
        of its own and ranks each method at its best budget."""
        budget = {f.name for f in dataclasses.fields(StepBudget)}
        return super().label(name, {key: value for key, value in explicit.items() if key not in budget})

    def prepare(self, model: nn.Module, ctx: UnlearnContext) -> None:
        """Set up what the loss needs before the first step."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        """The scalar to minimise on one batch of forget/retain pairs."""

    def finish(self, model: nn.Module) -> None:
        """Undo what `prepare` changed on the model (frozen parameters) and free what it held."""

    def describe(self) -> dict[str, Any]:
        """What the record should say about this run's unlearning beyond its budget (a layer chosen, a norm)."""
        return {}

    def uses_retain_data(self) -> bool:
        """Whether its loss trains on the retain data: a board then compares its forgetting with the retain-tuning
        control's at the same step budget. By default, whether it has an `alpha` option (the retain term's
        weight, as grad-diff, NPO, SimNPO and RMU have) that is not 0."""
        return bool(getattr(self.options, "alpha", 0))

    def objective_terms(self, model: nn.Module, batch: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
        """The objective's parts on one batch, without gradient: by default the mean NLL per target of the forget
        and of the retain targets, plus what `forget_terms` adds. A method whose objective is not about the NLL
        (RMU) replaces it."""
        forget = example_nll(model, batch["forget"])
        return {"forget_nll": float(forget.batch_mean()),
                "retain_nll": float(example_nll(model, batch["retain"]).batch_mean()),
                **self.forget_terms(forget, batch["forget"])}

    def forget_terms(self, forget: ExampleNll, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Terms of the method's own computed from the forget batch's per-example NLL (already computed: no
        second forward pass), such as the forget term's effective weight."""
        return {}

    @torch.no_grad()
    def _measure(self, model: nn.Module, probe: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
        with evaluating(model):  # no dropout: start and end are measured alike
            return {key: round(value, 6) for key, value in self.objective_terms(model, probe).items()}

    def trajectory(self, start: dict[str, float], end: dict[str, float], probe_pairs: int) -> dict[str, Any]:
        """What the record keeps of the objective: its terms at the start and end, and whether the rule held."""
        rule = self.objective
        return {"start": start, "end": end, "probe_pairs": probe_pairs,
                "rule": None if rule is None else rule.text,
                "reached": None if rule is None else rule.reached(start, end)}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> UnlearningResult:
        o = self.options
        settings = TrainSettings(lr=o.lr, weight_decay=o.weight_decay, batch_size=o.batch_size or ctx.train_batch_size,
                                 epochs=None, warmup_ratio=0.0, seed=ctx.seed, max_steps=o.steps,
                                 schedule="constant", warmup_steps=o.warmup_steps)
        data = Paired(ctx.forget_data(), ctx.retain_data())
        device = next(model.parameters()).device
        probe = to_device(next(iter(data.loader(min(PROBE_PAIRS, len(data))))), device)  # the first pairs, in order
        self.prepare(model, ctx)
        try:
            start = self._measure(model, probe)

            def checkpoint(step: int, epoch: float) -> None:
                # What the caller does there (an evaluation that samples) must not move the training's random
                # state, or the steps after it would differ from an uninterrupted run's.
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    reached = self.trajectory(start, self._measure(model, probe), len(probe["forget"]["input_ids"]))
                    ctx.on_checkpoint(step, reached)

            wanted = [s for s in ctx.checkpoints if 0 < s <= o.steps] if ctx.on_checkpoint is not None else []
            result = train(model, data, settings, autocast_dtype=ctx.autocast_dtype, loss_fn=self.loss,
                           description=f"unlearn ({type(self).__name__})", checkpoints=wanted,
                           on_checkpoint=checkpoint if wanted else None)
            objective = self.trajectory(start, self._measure(model, probe), len(probe["forget"]["input_ids"]))
        finally:
            self.finish(model)
            for parameter in model.parameters():  # relearning trains every weight, whatever the method froze
                parameter.requires_grad_(True)
        budget = {"steps": result.steps, "lr": o.lr, "batch_size": settings.batch_size, "warmup_steps": o.warmup_steps}
        info = {"final_loss": result.final_loss, "seconds": round(result.seconds, 2),
                "forget_examples": len(data.forget), "retain_examples": len(data.retain), **self.describe(),
                "retain_term": self.uses_retain_data(), "objective": objective}
        return UnlearningResult(edited=True, budget=budget, info=info)
