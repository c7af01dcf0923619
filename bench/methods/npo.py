"""Negative preference optimisation (Zhang et al. 2024): gradient ascent whose step shrinks as the model's
likelihood of a forget example falls below the reference's, so it does not run away.

    L(θ) = −(2/β) · mean_i log σ(−β · (log π_θ(y_i|x_i) − log π_ref(y_i|x_i)))  +  α · NLL_θ(retain)

log π(y_i|x_i) is example i's summed log-likelihood of its concept targets; π_ref is the model as it was before
unlearning, frozen. β = 0.1 and α = 1 as published (open-unlearning's NPO; α = 0 drops the retain term).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from bench.api.method import Grid, StepBudget, UnlearnContext, WeightEditingMethod
from bench.core.plugins import METHODS
from bench.models.nll import ExampleNll, example_nll


@dataclass(frozen=True)
class NpoOptions(StepBudget):
    beta: float = 0.1
    alpha: float = 1.0  # weight of the retain NLL (0: forget term only)


def npo_loss(logp: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """The forget term over a batch of summed log-likelihoods (under the model and the reference)."""
    return -(2.0 / beta) * nn.functional.logsigmoid(-beta * (logp - logp_ref)).mean()


@METHODS.register("npo")
class Npo(WeightEditingMethod):
    """NPO against the frozen pre-unlearning model, plus a retain NLL term."""

    description = "Negative preference optimisation against the frozen model before unlearning (weight editing)."
    version = 1
    # NPO's β of 0.1 (its paper's) and a stiffer 0.5; the retain term on and weakened.
    grid = Grid({"lr": (1e-5, 1e-4), "beta": (0.1, 0.5), "alpha": (1.0, 0.1)}, epochs=10)
    Options = NpoOptions

    def prepare(self, model: nn.Module, ctx: UnlearnContext) -> None:
        self.reference = copy.deepcopy(model).eval().requires_grad_(False)
        # The frozen model's log-likelihood of a forget example never changes (no dropout in eval mode): computed
        # the first time a batch brings the example, not again on every pass over the cycling forget set.
        self.reference_nll: dict[bytes, float] = {}

    def finish(self, model: nn.Module) -> None:
        self.reference, self.reference_nll = None, {}

    def _reference(self, forget: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each row's summed reference NLL, by the row's unpadded input ids and labels."""
        keys = [ids[mask.bool()].cpu().numpy().tobytes() + labels[mask.bool()].cpu().numpy().tobytes()
                for ids, labels, mask in zip(forget["input_ids"], forget["labels"], forget["attention_mask"],
                                             strict=True)]
        if any(key not in self.reference_nll for key in keys):
            with torch.no_grad():
                totals = example_nll(self.reference, forget).total.tolist()
            self.reference_nll.update(zip(keys, totals, strict=True))
        return torch.tensor([self.reference_nll[key] for key in keys], device=forget["input_ids"].device)

    def forget_terms(self, forget: ExampleNll, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        # The forget term's gradient is gradient ascent's scaled per example by 2σ(β(log π_θ − log π_ref)): 1 at the
        # start, falling toward 0 as the example is forgotten (Zhang et al. 2024, eq. 4).
        gap = -forget.total + self._reference(batch)
        return {"forget_weight": float((2 * torch.sigmoid(self.options.beta * gap)).mean())}

    def loss(self, model: nn.Module, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        forget = batch["forget"]
        loss = npo_loss(-example_nll(model, forget).total, -self._reference(forget), self.options.beta)
        if self.options.alpha:
            loss = loss + self.options.alpha * example_nll(model, batch["retain"]).batch_mean()
        return loss
