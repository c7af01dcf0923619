"""The one table that knows where each architecture family keeps its blocks and MLP neurons.

Everything else asks this table; no code outside it looks at model names or module classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from bench.core.errors import UnknownNameError


@dataclass(frozen=True)
class ArchFamily:
    name: str
    model_types: tuple[str, ...]  # `config.model_type` values that share these module names
    blocks: str  # path from `model.base_model` to the ModuleList of transformer blocks
    mlp_out: str  # path inside a block to the layer whose *input* is the MLP activation (the units)
    # (parameter path inside a block, the dimension indexed by MLP unit); a `.bias` the model lacks is
    # skipped. `unit_in`: zeroing these alone makes the unit's activation exactly 0 (the pre-activation
    # projection; the gate of a gated MLP), as every activation used here has f(0) = 0.
    # `unit_other`: the rest of the unit's weights (up projection, output projection).
    unit_in: tuple[tuple[str, int], ...]
    unit_other: tuple[tuple[str, int], ...]
    # Decoder-only (causal attention): the first position of a sequence is an attention sink, with
    # activations thousands of times larger than anywhere else whatever its token, so unit statistics skip it.
    causal: bool = False

    @property
    def unit_weights(self) -> tuple[tuple[str, int], ...]:
        return self.unit_in + self.unit_other


FAMILIES: tuple[ArchFamily, ...] = (
    ArchFamily(
        name="bert",
        model_types=("bert", "roberta"),
        blocks="encoder.layer",
        mlp_out="output.dense",
        unit_in=(("intermediate.dense.weight", 0), ("intermediate.dense.bias", 0)),
        unit_other=(("output.dense.weight", 1),),
    ),
    ArchFamily(
        name="distilbert",
        model_types=("distilbert",),
        blocks="transformer.layer",
        mlp_out="ffn.lin2",
        unit_in=(("ffn.lin1.weight", 0), ("ffn.lin1.bias", 0)),
        unit_other=(("ffn.lin2.weight", 1),),
    ),
    ArchFamily(
        # GPT-2's Conv1D stores weights as (in, out), hence the transposed dimensions.
        name="gpt2",
        model_types=("gpt2",),
        blocks="h",
        mlp_out="mlp.c_proj",
        unit_in=(("mlp.c_fc.weight", 1), ("mlp.c_fc.bias", 0)),
        unit_other=(("mlp.c_proj.weight", 0),),
        causal=True,
    ),
    ArchFamily(
        # Gated MLP: the unit is act(gate) * up, so both input projections carry it.
        name="llama",
        model_types=("llama", "mistral", "qwen2"),
        blocks="layers",
        mlp_out="mlp.down_proj",
        unit_in=(("mlp.gate_proj.weight", 0), ("mlp.gate_proj.bias", 0)),
        unit_other=(("mlp.up_proj.weight", 0), ("mlp.up_proj.bias", 0), ("mlp.down_proj.weight", 1)),
        causal=True,
    ),
)


def family_of(model: nn.Module) -> ArchFamily:
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    supported = [t for family in FAMILIES for t in family.model_types]
    raise UnknownNameError(
        "architecture", str(model_type), supported, hint="add a row to bench/architectures.py:FAMILIES"
    )


def blocks_of(model: nn.Module, family: ArchFamily) -> nn.ModuleList:
    base = getattr(model, "base_model", model)
    return base.get_submodule(family.blocks)
