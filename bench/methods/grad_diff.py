"""Gradient difference: ascend on the concept's targets, descend on everything else.

    L(θ) = −γ · NLL_θ(forget) + α · NLL_θ(retain)

γ = α = 1 as published (open-unlearning's GradDiff). The retain targets are every target of the task's retain
set that is not the concept's (the other words, entity types or non-toxic completions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bench.api.method import Grid, StepBudget, WeightEditingMethod
from bench.core.plugins import METHODS
from bench.models.nll import example_nll


@dataclass(frozen=True)
class GradDiffOptions(StepBudget):
    gamma: float = 1.0  # weight of the forget term
    alpha: float = 1.0  # weight of the retain term


def difference_loss(forget_nll: torch.Tensor, retain_nll: torch.Tensor, gamma: float, alpha: float) -> torch.Tensor:
    return -gamma * forget_nll + alpha * retain_nll


@METHODS.register("grad-diff")
class GradientDifference(WeightEditingMethod):
    """Gradient ascent on the forget set plus descent on the retain set."""

    description = "Gradient difference: ascent on the concept's targets, descent on the rest (weight editing)."
    version = 1
    grid = Grid({"lr": (1e-5, 1e-4), "alpha": (1.0, 0.1)}, epochs=10)
    Options = GradDiffOptions

    def loss(self, model: nn.Module, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        return difference_loss(example_nll(model, batch["forget"]).batch_mean(),
                               example_nll(model, batch["retain"]).batch_mean(), self.options.gamma, self.options.alpha)
