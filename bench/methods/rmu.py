"""Representation misdirection for unlearning (RMU; Li et al. 2024, the WMDP paper).

At one block ℓ, push the hidden states of the forget data toward a fixed random direction of large norm and
keep those of the retain data where the frozen model had them, training only the MLPs of blocks ℓ−2..ℓ:

    L(θ) = mean_t ‖h_θ^ℓ(x_f)_t − c·u‖² / d  +  α · mean_t ‖h_θ^ℓ(x_r)_t − h_ref^ℓ(x_r)_t‖² / d

over the labelled tokens t of forget (x_f) and retain (x_r) batches; u is a unit vector drawn uniformly from
[0, 1)^d and normalised (seeded by the run), d the hidden size.

Where this departs from WMDP: their c (6.5 for Zephyr-7B, 300 for Mixtral) and α (1200) are tuned to one
model's activation scale, so here c = `steering` × the mean norm of the frozen model's block-ℓ states on the
forget tokens (measured before the first step), and the default block is ℓ = max(2, round(7/32 · layers)),
WMDP's depth (block 7 of Zephyr's 32; 7 of SmolLM2's 30, 2 of MiniLM's 6). Only the MLP weights of ℓ−2..ℓ
train, as in WMDP (they update the MLPs' output projections; here every weight of those MLPs, as the
architecture table names them).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.api.method import StepBudget, UnlearnContext, WeightEditingMethod
from bench.core.errors import BenchError
from bench.core.plugins import METHODS
from bench.models.training import to_device
from bench.neurons.architectures import blocks_of, family_of
from bench.neurons.units import unit_space

IGNORE = -100
NORM_BATCHES = 4  # forget batches whose states measure the steering norm


@dataclass(frozen=True)
class RmuOptions(StepBudget):
    # WMDP's rate, and a budget of WMDP's order (it trains on 80-150 batches): on NER (seed 0) 32 steps moved
    # nothing (forgetting 0.000 [−0.024, 0.024]) and 128 removed most of the concept within the bound.
    steps: int = 128
    lr: float = 5e-5
    layer: int | None = None  # the block whose output is steered (None: WMDP's relative depth)
    layers_trained: int = 3  # the MLPs of this many blocks, ending at `layer`, train
    steering: float = 4.0  # c as a multiple of the forget states' mean norm at `layer`
    alpha: float = 100.0  # weight of the retain term


def activation_loss(states: torch.Tensor, target: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over labelled tokens of the mean squared difference over hidden dimensions (WMDP's MSE)."""
    counted = (labels != IGNORE).to(states.dtype)
    per_token = (states.float() - target.float()).square().mean(dim=-1)
    return (per_token * counted).sum() / counted.sum().clamp(min=1)


class _Reached(Exception):
    """Raised by the hook once block ℓ has its output: nothing after it is needed."""


def block_states(model: nn.Module, layer: int, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The output of block `layer` on `batch` ([batch, positions, hidden]); the forward pass stops there."""
    captured: list[torch.Tensor] = []

    def hook(module, args, output):
        captured.append(output[0] if isinstance(output, tuple) else output)
        raise _Reached

    handle = blocks_of(model, family_of(model))[layer].register_forward_hook(hook)
    try:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    except _Reached:
        pass
    finally:
        handle.remove()
    return captured[0]


@METHODS.register("rmu")
class Rmu(WeightEditingMethod):
    """Misdirect one block's forget states toward a random direction; keep its retain states."""

    description = "RMU: steer one block's forget activations to a random direction, keep retain ones (weight editing)."
    version = 1
    Options = RmuOptions
    seed_effect = "the unlearning's data order and random direction"

    def prepare(self, model: nn.Module, ctx: UnlearnContext) -> None:
        o = self.options
        n_layers = len(blocks_of(model, family_of(model)))
        self.layer = o.layer if o.layer is not None else min(n_layers - 1, max(2, round(7 / 32 * n_layers)))
        if not 0 <= self.layer < n_layers:
            raise BenchError(f"rmu option layer={self.layer} is outside the model's blocks 0..{n_layers - 1}")
        if o.layers_trained < 1:
            raise BenchError(f"rmu option layers_trained must be at least 1, got {o.layers_trained}")
        self.trained_layers = list(range(max(0, self.layer - o.layers_trained + 1), self.layer + 1))
        self.reference = copy.deepcopy(model).eval().requires_grad_(False)
        model.requires_grad_(False)
        space = unit_space(model, "mlp")
        for layer in self.trained_layers:
            for parameter, _ in space.unit_weights(model, layer):
                parameter.requires_grad_(True)
        device = next(model.parameters()).device
        width = model.config.hidden_size
        direction = torch.rand(width, generator=torch.Generator().manual_seed(ctx.seed))
        self.norm = self._mean_norm(ctx)
        self.control = (direction / direction.norm() * o.steering * self.norm).to(device)

    @torch.no_grad()
    def _mean_norm(self, ctx: UnlearnContext) -> float:
        device = next(self.reference.parameters()).device
        total, count = 0.0, 0
        for number, batch in enumerate(ctx.forget_data().loader(ctx.train_batch_size)):
            if number == NORM_BATCHES:
                break
            batch = to_device(batch, device)
            states = block_states(self.reference, self.layer, batch).float()
            counted = batch["labels"] != IGNORE
            total += float(states.norm(dim=-1)[counted].sum())
            count += int(counted.sum())
        if count == 0:
            raise BenchError("rmu: the forget data has no labelled tokens")
        return total / count

    def finish(self, model: nn.Module) -> None:
        self.reference = None

    def describe(self) -> dict[str, Any]:
        return {"layer": self.layer, "trained_layers": self.trained_layers, "forget_norm": round(self.norm, 4),
                "steering_norm": round(self.options.steering * self.norm, 4)}

    def loss(self, model: nn.Module, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        forget, retain = batch["forget"], batch["retain"]
        states = block_states(model, self.layer, forget)
        loss = activation_loss(states, self.control.expand_as(states), forget["labels"])
        if self.options.alpha:
            with torch.no_grad():
                kept = block_states(self.reference, self.layer, retain)
            loss = loss + self.options.alpha * activation_loss(block_states(model, self.layer, retain), kept,
                                                               retain["labels"])
        return loss
