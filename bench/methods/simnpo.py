"""SimNPO (Fan et al. 2024): NPO without a reference model, on the length-normalised likelihood.

    L(θ) = −(2/β) · γ · mean_i log σ(−(β/|y_i|) · log π_θ(y_i|x_i) − δ)  +  α · NLL_θ(retain)

|y_i| is the number of concept targets of example i, so (−1/|y_i|) log π_θ is its mean NLL per target.
β = 4.5, δ = 0, γ = 0.125 and α = 1 as published for TOFU (open-unlearning's SimNPO).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bench.api.method import StepBudget, WeightEditingMethod
from bench.core.plugins import METHODS
from bench.methods.objectives import example_nll


@dataclass(frozen=True)
class SimNpoOptions(StepBudget):
    # Its forget term saturates (γ = 0.125): on NER (seed 0, lr 1e-5) 32 steps forget 0.17 and 128 steps 0.79.
    steps: int = 128
    beta: float = 4.5
    delta: float = 0.0  # the reward margin
    gamma: float = 0.125  # weight of the forget term
    alpha: float = 1.0  # weight of the retain NLL


def simnpo_loss(mean_nll: torch.Tensor, beta: float, delta: float) -> torch.Tensor:
    """The forget term over a batch of per-example mean NLLs (−log π_θ(y|x) / |y|)."""
    return -(2.0 / beta) * nn.functional.logsigmoid(beta * mean_nll - delta).mean()


@METHODS.register("simnpo")
class SimNpo(WeightEditingMethod):
    """Reference-free, length-normalised NPO, plus a retain NLL term."""

    description = "SimNPO: reference-free, length-normalised NPO (weight editing)."
    version = 1
    Options = SimNpoOptions

    def loss(self, model: nn.Module, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        forget = example_nll(model, batch["forget"])
        has_targets = forget.count > 0
        o = self.options
        loss = o.gamma * simnpo_loss(forget.mean_per_token[has_targets], o.beta, o.delta)
        if o.alpha:
            loss = loss + o.alpha * example_nll(model, batch["retain"]).batch_mean()
        return loss
