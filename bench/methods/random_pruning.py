"""The random control: prune units drawn uniformly at random (seeded) from the whole unit space."""

from __future__ import annotations

import torch
from torch import nn

from bench.api.method import PruningMethod, UnlearnContext
from bench.core.plugins import METHODS


@METHODS.register("random")
class RandomPruning(PruningMethod):
    """Prune uniformly random units across all layers (the control every method is compared with)."""

    description = "Prune uniformly random units across all layers (seeded control)."
    version = 1
    uses_seed = True
    grid = None  # a control: it runs at the budget of the method it is compared with

    def score_units(self, model: nn.Module, ctx: UnlearnContext) -> torch.Tensor:
        # i.i.d. uniform scores: the top k of them are a uniformly random k-subset of all units, drawn
        # from a generator of its own so that nothing else consumed from the global RNG changes it.
        generator = torch.Generator().manual_seed(ctx.seed)
        return torch.rand(ctx.space.shape, generator=generator)
