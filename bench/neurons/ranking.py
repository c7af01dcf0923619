"""Neuron rankings for a concept and the paper's concept-saliency view of them (pure tensor functions).

Probeless ranking (Antverg & Belinkov 2022, as used by Lo, Cohen & Barez 2024): with q(z) the mean
activation vector of the tokens labelled z, a unit's salience for concept z is the paper's Eq. 1,
    r(z) = sum over z' != z of |q(z) - q(z')|
computed per unit, in activation units. Its scale-free variant divides each unit's r(z) by the unit's
pooled within-label standard deviation, so that a unit whose activations are simply large everywhere
does not outrank one that separates the labels cleanly. Concept saliency cuts the global ranking into
groups of 100 consecutive units and scores each group by its position (1.0 = the top 100).
"""

from __future__ import annotations

import math

import torch

from bench.core.errors import BenchError


def probeless_scores(label_means: torch.Tensor, concept: int) -> torch.Tensor:
    """[layers, n_labels, width] per-label means → [layers, width] salience of label `concept`.

    Labels without any tokens (NaN means) are left out of the sum.
    """
    if label_means.dim() != 3:
        raise BenchError(f"label means must be [layers, labels, width], got {tuple(label_means.shape)}")
    target = label_means[:, concept]
    if torch.isnan(target).any():
        raise BenchError("the concept label has no tokens in the concept data: nothing to rank by")
    others = [z for z in range(label_means.shape[1]) if z != concept and not torch.isnan(label_means[:, z]).any()]
    if not others:
        raise BenchError("the concept data has no tokens outside the concept: nothing to contrast with")
    return sum((target - label_means[:, z]).abs() for z in others)


def standardized_scores(label_means: torch.Tensor, label_vars: torch.Tensor, label_counts: torch.Tensor,
                        concept: int) -> torch.Tensor:
    """Eq. 1 divided, per unit, by the pooled within-label standard deviation
        s = sqrt( sum_z n_z var_z / (N - Z) )   over the Z labels that have tokens (N tokens in all),
    i.e. a sum of standardised mean differences (Cohen's d against each other label). A unit that never
    varies (s = 0) separates nothing and scores 0.
    """
    raw = probeless_scores(label_means, concept)
    present = label_counts > 0
    n, z = float(label_counts[present].sum()), int(present.sum())
    if n <= z:
        raise BenchError("the concept data has too few tokens to estimate a within-label spread")
    weighted = (label_vars[:, present] * label_counts[present].view(1, -1, 1).to(label_vars.dtype)).sum(dim=1)
    spread = (weighted / (n - z)).sqrt()
    return torch.where(spread > 0, raw / spread.clamp(min=torch.finfo(spread.dtype).tiny), torch.zeros_like(raw))


def global_ranks(scores: torch.Tensor) -> torch.Tensor:
    """Rank of every unit in the global ordering (0 = highest score); ties go to the lower (layer, index)."""
    flat = scores.flatten().float()
    order = torch.argsort(-flat, stable=True)
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(order.numel())
    return ranks.view_as(scores)


def concept_saliency(scores: torch.Tensor, group: int = 100, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Saliency in (0, 1] per unit: groups of `group` consecutive ranks, top group 1.0, last group 1/G.

    `exclude` (pruned units) are left out of the ranking itself and get saliency 0. Ranking them too would
    put every pruned unit (activation 0) at the bottom, and with half the units pruned every survivor would
    be "salient" whatever it encodes.
    """
    excluded = torch.zeros_like(scores, dtype=torch.bool) if exclude is None else exclude.bool()
    n_groups = max(1, math.ceil(int((~excluded).sum()) / group))
    ranks = global_ranks(scores.float().masked_fill(excluded, float("-inf")))  # excluded rank last
    saliency = (n_groups - ranks // group).float() / n_groups
    return saliency.masked_fill(excluded, 0.0)


def salient_share_per_layer(saliency: torch.Tensor, pruned: torch.Tensor | None = None,
                            threshold: float = 0.5) -> torch.Tensor:
    """Per layer, the fraction of (unpruned) units with saliency above `threshold`."""
    alive = torch.ones_like(saliency, dtype=torch.bool) if pruned is None else ~pruned
    salient = (saliency > threshold) & alive
    return salient.sum(dim=1).float() / alive.sum(dim=1).clamp(min=1).float()


def mean_saliency_per_layer(saliency: torch.Tensor, pruned: torch.Tensor | None = None) -> torch.Tensor:
    alive = torch.ones_like(saliency, dtype=torch.bool) if pruned is None else ~pruned
    return (saliency * alive).sum(dim=1) / alive.sum(dim=1).clamp(min=1)
