"""Gradient ascent: raise the loss of the concept's targets.

    L(θ) = −NLL_θ(forget) = (1/N) Σ_t log p_θ(y_t | x_<t)      over the N concept targets of a forget batch

On a causal-LM task the targets are the concept's tokens (CBT: the target category's words; toxicity: the
toxic completions); on NER, the concept's entity tags. Unbounded below, so its budget (steps × learning rate)
decides how much of the model it takes with it.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.api.method import Grid, WeightEditingMethod
from bench.core.plugins import METHODS
from bench.models.nll import example_nll


def ascent_loss(forget_nll: torch.Tensor) -> torch.Tensor:
    return -forget_nll


@METHODS.register("grad-ascent")
class GradientAscent(WeightEditingMethod):
    """Gradient ascent on the forget set's concept targets (−NLL)."""

    description = "Gradient ascent on the concept's targets (weight editing; budget: optimizer steps)."
    version = 1
    # open-unlearning's rate and up to ten times more (ascent at 1e-4 removes GPE in 4 steps and breaks the
    # rest by 8), for up to 10 epochs of the forget data.
    grid = Grid({"lr": (1e-5, 3e-5, 1e-4)}, epochs=10)

    def loss(self, model: nn.Module, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        return ascent_loss(example_nll(model, batch["forget"]).batch_mean())
