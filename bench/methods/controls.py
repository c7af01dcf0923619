"""Controls that remove nothing. `none`: the prepared model goes through the same protocol (same evaluations,
same relearning), so a leaderboard can show how the target moves under relearning alone and how far an
unlearned model still is from a model that was never unlearned once both are retrained. `never-learned`: the
model prepared *without* the concept (NER: the concept's words out of the loss; toxicity: the model before the toxic
preparation), relearned the same way, so its curve says how fast the concept is learned from nothing and a
leaderboard can say whether an unlearned model relearns faster than that."""

from __future__ import annotations

import torch
from torch import nn

from bench.api.controls import BASE_CONTROL, NEVER_LEARNED_CONTROL
from bench.api.method import Method, UnlearnContext, UnlearningResult
from bench.core.plugins import METHODS
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
