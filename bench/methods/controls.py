"""The base control: no unlearning at all. The unpruned model goes through the same protocol (same
evaluations, same relearning), so a leaderboard can show how the target moves under relearning alone and
how far an unlearned model still is from a model that was never unlearned once both are retrained."""

from __future__ import annotations

import torch
from torch import nn

from bench.api.method import Method, UnlearnContext, UnlearningResult
from bench.core.plugins import METHODS
from bench.neurons.masks import UnitMask

BASE_CONTROL = "none"


@METHODS.register(BASE_CONTROL)
class NoUnlearning(Method):
    """Prune nothing: the base model, relearned the same way (the control for relearning alone)."""

    description = "Prune nothing: the base model relearned the same way (control)."
    version = 1
    budget_free = True

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> UnlearningResult:
        # The budget is ignored on purpose (budget_free): one run per seed controls the entries of every budget.
        return UnlearningResult(mask=UnitMask(ctx.space.name, torch.zeros(ctx.space.shape, dtype=torch.bool)), k_requested=0)
