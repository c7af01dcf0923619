"""Selective pruning (Pochinkov & Schoots 2024, cited by the SNIP paper): prune the units whose activation
importance on the forget data is highest relative to the retain data. No labels beyond what is forget and
what is retain, no LLM.

    I_D(u) = sqrt(mean_{t∈D} a_u(t)²)          (root-mean-square activation of unit u over tokens t of D)
    S(u)   = I_forget(u) / (I_retain(u) + ε)

Forget tokens are the concept data's concept tokens, retain tokens the others (toxicity: toxic against
non-toxic completions of the same prompts; CBT: the target category's words against the rest of the same
sentences; NER: the entity type's words against the rest).

Where this departs from the paper: the paper compares two whole datasets and prunes iteratively (a few
percent per round, statistics taken again after each); here the budget is selected in one round by the
harness, like every pruning method, from the one statistics pass over the concept data that every method
and the analysis share. Of the paper's importance functions (frequency, mean absolute, RMS, standard
deviation) RMS is the one that pass yields (per-label mean and variance: RMS² = var + mean²).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bench.api.method import PruningMethod, UnlearnContext
from bench.core.plugins import METHODS


@dataclass(frozen=True)
class SelectivePruningOptions:
    epsilon: float = 1e-6  # keeps a unit that is silent on the retain tokens from dividing by zero


def rms_ratio(means: torch.Tensor, variances: torch.Tensor, counts: torch.Tensor, forget: int, epsilon: float
              ) -> torch.Tensor:
    """S = RMS(forget) / (RMS(retain) + ε) per unit, from per-label means and variances [layers, labels, width]
    and token counts [labels]; the retain tokens are those of every other label, pooled. NaN (not ranked) where
    the forget label or all others saw no tokens."""
    squares = variances + means.square()  # mean of a² per label
    others = [label for label in range(means.shape[1]) if label != forget and counts[label] > 0]
    if not others or counts[forget] == 0:
        return torch.full_like(means[:, 0], float("nan"))
    weights = counts[others].to(squares.dtype).view(1, -1, 1)
    retain = (squares[:, others] * weights).sum(dim=1) / weights.sum()
    return squares[:, forget].sqrt() / (retain.sqrt() + epsilon)


@METHODS.register("selective-pruning")
class SelectivePruning(PruningMethod):
    """Prune the units most active on forget tokens relative to retain tokens (RMS ratio)."""

    description = "Selective pruning: units most active on the concept relative to the rest (Pochinkov & Schoots 2024)."
    version = 1
    Options = SelectivePruningOptions

    def score_units(self, model: nn.Module, ctx: UnlearnContext) -> torch.Tensor:
        statistics = ctx.concept_statistics(model)
        # NaN where a label saw no tokens: NOT_RANKED, never pruned
        return rms_ratio(statistics.label_means, statistics.label_vars, statistics.label_counts,
                         forget=len(ctx.concept.label_names) - 1, epsilon=self.options.epsilon)
