"""An outside author's method: no fork of relearn-bench, just an entry point to this class."""

import torch

from bench import PruningMethod


class LastLayersPruning(PruningMethod):
    """Prune the deepest layers' units first (an example plug-in)."""

    description = "Prune the deepest layers' units first (example third-party plug-in)."
    version = 1

    def score_units(self, model, ctx):
        layers, width = ctx.space.shape
        return torch.arange(layers, dtype=torch.float32).view(-1, 1).expand(layers, width).clone()
