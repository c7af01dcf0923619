"""Unit spaces: how a model's neurons are addressed as (layer, index) and where they are read or masked.

`mlp` units are the hidden activations of each block's MLP (the input of its output projection);
`hidden` units are the dimensions of each block's output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from bench.core.errors import UnknownNameError
from bench.neurons.architectures import ArchFamily, blocks_of, family_of

SpaceName = Literal["mlp", "hidden"]
SPACES: tuple[str, ...] = ("mlp", "hidden")

# fn(layer, activations[..., width]) -> replacement activations, or None to leave them as they are.
UnitFn = Callable[[int, torch.Tensor], "torch.Tensor | None"]


@dataclass(frozen=True)
class UnitSpace:
    name: SpaceName
    family: ArchFamily
    n_layers: int
    width: int

    @property
    def total(self) -> int:
        return self.n_layers * self.width

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_layers, self.width)

    @property
    def prunable_by_weights(self) -> bool:
        """Whether a unit owns weights that can be zeroed (MLP neurons do; residual dimensions do not)."""
        return self.name == "mlp"

    def unit_weights(self, model: nn.Module, layer: int, silencing_only: bool = False) -> list[tuple[nn.Parameter, int]]:
        """The parameters that carry MLP unit weights in `layer`, with the dimension that indexes units.

        `silencing_only`: just those whose zeroing makes the activation 0 (see ArchFamily.unit_in).
        """
        if not self.prunable_by_weights:
            return []
        block = blocks_of(model, self.family)[layer]
        found = []
        for path, dim in self.family.unit_in if silencing_only else self.family.unit_weights:
            try:
                found.append((block.get_parameter(path), dim))
            except AttributeError:
                if not path.endswith(".bias"):
                    raise
        return found

    @contextmanager
    def hooked(self, model: nn.Module, fn: UnitFn) -> Iterator[None]:
        """Call `fn` on every layer's unit activations during forward passes; removes only its own hooks."""
        handles = []
        try:
            for layer, block in enumerate(blocks_of(model, self.family)):
                if self.name == "mlp":
                    tokens: list[torch.Size] = []  # the block input's (batch, sequence), for flat_tokens families
                    if self.family.flat_tokens:
                        handles.append(block.register_forward_pre_hook(_shape_hook(tokens), with_kwargs=True))
                    handles.append(block.get_submodule(self.family.mlp_out).register_forward_pre_hook(
                        _pre_hook(layer, fn, tokens if self.family.flat_tokens else None)))
                else:
                    handles.append(block.register_forward_hook(_post_hook(layer, fn)))
            yield
        finally:
            for handle in handles:
                handle.remove()


def _pre_hook(layer: int, fn: UnitFn, tokens: list[torch.Size] | None = None):
    def hook(module, args):
        acts = args[0]
        if tokens is not None and acts.dim() == 2:  # (batch·sequence, units) -> (batch, sequence, units)
            flat = acts.shape
            replaced = fn(layer, acts.view(*tokens[-1], flat[-1]))
            return None if replaced is None else (replaced.reshape(flat), *args[1:])
        replaced = fn(layer, acts)
        return None if replaced is None else (replaced, *args[1:])

    return hook


def _shape_hook(tokens: list[torch.Size]):
    def hook(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        tokens[:] = [hidden.shape[:-1]]

    return hook


def _post_hook(layer: int, fn: UnitFn):
    def hook(module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        replaced = fn(layer, hidden)
        if replaced is None:
            return None
        return (replaced, *output[1:]) if isinstance(output, tuple) else replaced

    return hook


def unit_space(model: nn.Module, name: str = "mlp") -> UnitSpace:
    if name not in SPACES:
        raise UnknownNameError("unit space", name, SPACES)
    family = family_of(model)
    blocks = blocks_of(model, family)
    if name == "mlp":
        out_weight = f"{family.mlp_out}.weight"
        dim = dict(family.unit_weights)[out_weight]
        width = blocks[0].get_parameter(out_weight).shape[dim]
    else:
        width = model.config.hidden_size
    return UnitSpace(name=name, family=family, n_layers=len(blocks), width=int(width))  # type: ignore[arg-type]
