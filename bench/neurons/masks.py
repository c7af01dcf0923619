"""Unit masks: which units are pruned, how a budget selects them, and how pruning is applied and kept.

A pruned unit contributes nothing. `persistent`: all its MLP weights are zeroed, a hook masks its
activation and its weights' gradients are masked, so neither the loss nor AdamW's weight decay or moments
can move it off zero while the model is retrained. `regrow`: only the weights that produce its activation
are zeroed, once. Why not all of them: a unit whose input and output weights are all zero is a stationary
point of gradient descent (every gradient through it is zero), so it could never regrow; with its output
weights kept, its activation is exactly 0 now and the loss still has a gradient path to revive it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from bench.core.errors import BenchError
from bench.neurons.units import UnitSpace

MaskMode = Literal["persistent", "regrow"]
MASK_MODES: tuple[str, ...] = ("persistent", "regrow")


@dataclass(frozen=True)
class UnitMask:
    space: str
    pruned: torch.Tensor  # bool, [n_layers, width]; True = pruned

    @property
    def k(self) -> int:
        return int(self.pruned.sum())

    @property
    def total(self) -> int:
        return self.pruned.numel()

    def per_layer(self) -> list[int]:
        return self.pruned.sum(dim=1).tolist()

    def content_hash(self) -> str:
        bits = np.packbits(self.pruned.cpu().numpy().astype(np.uint8).ravel()).tobytes()
        header = json.dumps({"space": self.space, "shape": list(self.pruned.shape)}).encode()
        return hashlib.sha256(header + bits).hexdigest()[:16]

    def save(self, path: Path) -> None:
        save_file(
            {"pruned": self.pruned.to(torch.uint8).cpu().contiguous()},
            str(path),
            metadata={"space": self.space, "hash": self.content_hash()},
        )

    @classmethod
    def load(cls, path: Path) -> UnitMask:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        mask = cls(space=meta.get("space", "mlp"), pruned=tensors["pruned"].bool())
        if meta.get("hash") and meta["hash"] != mask.content_hash():
            raise BenchError(f"{path}: mask content does not match its recorded hash")
        return mask


def budget_to_k(total: int, fraction: float | None = None, k: int | None = None) -> int:
    """The number of units a budget selects: `k` units, or `fraction` of all of them (rounded)."""
    if (fraction is None) == (k is None):
        raise BenchError("give exactly one pruning budget: --fraction or --k")
    if fraction is not None:
        if not 0.0 < fraction <= 1.0:
            raise BenchError(f"--fraction must be in (0, 1], got {fraction}")
        return max(1, round(fraction * total))
    if not 1 <= int(k) <= total:  # type: ignore[arg-type]
        raise BenchError(f"--k must be between 1 and the number of units ({total}), got {k}")
    return int(k)  # type: ignore[arg-type]


NOT_RANKED = float("nan")  # the score of a unit a method has no ranking for


def select_top_k(scores: torch.Tensor, k: int, space: str) -> UnitMask:
    """Prune the k highest-scoring units; ties go to the lower (layer, index), so selection is deterministic.

    A unit scored NaN (`NOT_RANKED`) is one the method could not rank, and is never pruned: a method that
    ranks fewer than k units prunes fewer than k, and the record says so, rather than the harness making up
    an order for the rest.
    """
    if scores.dim() != 2:
        raise BenchError(f"unit scores must be [layers, width], got shape {tuple(scores.shape)}")
    flat = scores.detach().float().cpu().flatten()
    ranked = ~torch.isnan(flat)
    if not ranked.any():
        raise BenchError("the method ranked no unit: there is nothing to prune")
    order = torch.argsort(-flat.masked_fill(~ranked, float("-inf")), stable=True)[: int(ranked.sum())]
    pruned = torch.zeros(flat.numel(), dtype=torch.bool)
    pruned[order[:k]] = True
    return UnitMask(space=space, pruned=pruned.view_as(scores.cpu()))


def _slice_mask(keep: torch.Tensor, param: nn.Parameter, dim: int) -> torch.Tensor:
    shape = [1] * param.dim()
    shape[dim] = -1
    return keep.to(device=param.device, dtype=param.dtype).view(shape)


@torch.no_grad()
def zero_pruned_weights(model: nn.Module, space: UnitSpace, mask: UnitMask, silencing_only: bool = False) -> None:
    for layer in range(space.n_layers):
        keep = ~mask.pruned[layer]
        for param, dim in space.unit_weights(model, layer, silencing_only):
            param.mul_(_slice_mask(keep, param, dim))


@contextmanager
def apply_mask(model: nn.Module, space: UnitSpace, mask: UnitMask, mode: MaskMode = "persistent") -> Iterator[None]:
    """Apply `mask` to `model` for the duration of the block (evaluation and retraining happen inside)."""
    if mask.space != space.name or tuple(mask.pruned.shape) != space.shape:
        raise BenchError(f"mask ({mask.space}, {tuple(mask.pruned.shape)}) does not fit unit space ({space.name}, {space.shape})")
    if mode not in MASK_MODES:
        raise BenchError(f"mask_mode must be one of {MASK_MODES}, got {mode!r}")
    if mode == "regrow" and not space.prunable_by_weights:
        raise BenchError(
            f"mask_mode 'regrow' needs units that own weights; {space.name!r} units are masked by hooks only"
        )
    if mode == "regrow" and not space.family.regrows:
        raise BenchError(
            f"mask_mode 'regrow' cannot regrow {space.family.name} MLP units: their ReLU has zero derivative at 0, "
            "so a silenced unit gets no gradient and stays silent (the same as 'persistent'); use 'persistent'"
        )
    zero_pruned_weights(model, space, mask, silencing_only=mode == "regrow")
    if mode == "regrow":
        yield
        return

    keep_by_layer = [None] * space.n_layers
    grad_handles = []

    def mask_activation(layer: int, acts: torch.Tensor) -> torch.Tensor:
        keep = keep_by_layer[layer]
        if keep is None or keep.device != acts.device:
            keep = keep_by_layer[layer] = (~mask.pruned[layer]).to(acts.device)
        return acts * keep.to(acts.dtype)

    try:
        for layer in range(space.n_layers):
            keep = ~mask.pruned[layer]
            for param, dim in space.unit_weights(model, layer):
                grad_keep = _slice_mask(keep, param, dim)
                grad_handles.append(param.register_hook(lambda grad, m=grad_keep: grad * m.to(grad.dtype)))
        with space.hooked(model, mask_activation):
            yield
    finally:
        for handle in grad_handles:
            handle.remove()


def materialised_state(model: nn.Module, space: UnitSpace, mask: UnitMask) -> dict[str, torch.Tensor]:
    """The model's weights with every pruned unit's weights zeroed (in and out), as a runtime that runs no
    Python hooks (vLLM) must load them: its forward pass then equals the hooked one (tests/test_masks.py).
    Only units that own weights can be materialised; block-output dimensions are masked by hooks alone."""
    if not space.prunable_by_weights:
        raise BenchError(f"a {space.name!r} mask lives in hooks only and cannot be written into the weights: a runtime "
                         "without Python hooks (vLLM) cannot apply it; use unit_space 'mlp' or Hugging Face generation")
    if mask.space != space.name or tuple(mask.pruned.shape) != space.shape:
        raise BenchError(f"mask ({mask.space}, {tuple(mask.pruned.shape)}) does not fit unit space ({space.name}, {space.shape})")
    zeroed = {}
    names = {id(param): name for name, param in model.named_parameters()}
    for layer in range(space.n_layers):
        keep = ~mask.pruned[layer]
        for param, dim in space.unit_weights(model, layer):
            zeroed[names[id(param)]] = param.detach() * _slice_mask(keep, param, dim).to(param.dtype)
    return {name: zeroed.get(name, tensor.detach()) for name, tensor in model.state_dict().items()}
