"""Controls that remove nothing. `none`: the prepared model goes through the same protocol (same evaluations,
same relearning), so a leaderboard can show how the target moves under relearning alone and how far an
unlearned model still is from a model that was never unlearned once both are retrained. `never-learned`: the
model prepared *without* the concept (NER: the concept's words out of the loss; toxicity: the model before the toxic
preparation), relearned the same way, so its curve says how fast the concept is learned from nothing and a
leaderboard can say whether an unlearned model relearns faster than that. `retain-tuning`: the retain term of
the gradient methods alone, at their step budget, so forgetting that the retain data produce by themselves is
visible as such."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bench.api.controls import (
    BASE_CONTROL,
    NEVER_LEARNED_CONTROL,
    RETAIN_TUNING_CONTROL,
)
from bench.api.method import (
    Method,
    StepBudget,
    UnlearnContext,
    UnlearningResult,
    WeightEditingMethod,
)
from bench.core.plugins import METHODS
from bench.models.nll import example_nll
from bench.neurons.masks import UnitMask


@METHODS.register(BASE_CONTROL)
class NoUnlearning(Method):
    """Prune nothing: the base model, relearned the same way (the control for relearning alone)."""

    description = "Prune nothing: the base model relearned the same way (control)."
    version = 1
    budget_free = True

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> UnlearningResult:
        # The budget is ignored on purpose (budget_free): one run per seed controls the entries of every budget.
        return UnlearningResult(mask=UnitMask(ctx.space.name, torch.zeros(ctx.space.shape, dtype=torch.bool)), k_requested=0)


@METHODS.register(NEVER_LEARNED_CONTROL)
class NeverLearned(Method):
    """Remove nothing from a model that was prepared without the concept (the harness prepares it so)."""

    description = "Control: the model prepared without the concept, relearned the same way (learning from nothing)."
    version = 1
    budget_free = True
    prepares_without_concept = True

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> UnlearningResult:
        return UnlearningResult(mask=UnitMask(ctx.space.name, torch.zeros(ctx.space.shape, dtype=torch.bool)), k_requested=0)


@dataclass(frozen=True)
class RetainTuningOptions(StepBudget):
    alpha: float = 1.0  # weight of the retain NLL (grad-diff's, NPO's and SimNPO's default)


@METHODS.register(RETAIN_TUNING_CONTROL)
class RetainTuning(WeightEditingMethod):
    """Descend on the retain NLL alone: grad-diff without its forget term, at the same step budget."""

    description = "Control: fine-tuning on the retain data alone at a weight-editing budget (no forget term)."
    version = 1
    Options = RetainTuningOptions
    objective = None  # it has no forget term to reach; its forgetting is what the retain data alone do

    def loss(self, model: nn.Module, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        return self.options.alpha * example_nll(model, batch["retain"]).batch_mean()
