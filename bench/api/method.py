"""The method interface. A method sees the model and the concept data and returns what to remove;
it never trains or evaluates. Pruning methods only score units and the harness selects by budget."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from bench.api.data import ConceptData
from bench.core.errors import BenchError
from bench.core.options import NoOptions
from bench.neurons.activations import UnitStatistics, collect_unit_statistics
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
    _statistics: dict[str, UnitStatistics] = field(default_factory=dict, compare=False, repr=False)

    def concept_statistics(self, model: nn.Module, top_k: int = 0) -> UnitStatistics:
        """Per-label unit statistics of the concept data at the model being unlearned, streamed once and
        shared (the harness's analysis snapshot of the base model reads the same pass)."""
        cached = self._statistics.get("base")
        if cached is None or cached.top_values.shape[1] < top_k:
            cached = collect_unit_statistics(model, self.space, self.concept.data.loader(self.batch_size),
                                             n_labels=len(self.concept.label_names), top_k=top_k,
                                             description="unit statistics (concept data)")
            self._statistics["base"] = cached
        return cached


@dataclass(frozen=True)
class UnlearningResult:
    mask: UnitMask
    k_requested: int  # the budget in units; the mask may hold fewer when the method ranked fewer
    scores: torch.Tensor | None = None  # the ranking behind the mask, when there is one (NaN: not ranked)
    info: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)  # name -> text, written into the run folder


class Method(ABC):
    version: ClassVar[int] = 1
    description: ClassVar[str] = ""
    # Whether what it removes depends on the run's seed (a random draw); recorded as what a seed varies.
    uses_seed: ClassVar[bool] = False
    # Whether it ignores the pruning budget (the `none` control): a sweep runs it once per seed and task, and
    # the leaderboard pairs that run with the entries of every budget.
    budget_free: ClassVar[bool] = False
    Options: ClassVar[type] = NoOptions
    # Per profile, options that replace the defaults (a config file or the command line still override them).
    profile_options: ClassVar[dict[str, dict[str, Any]]] = {}

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
