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
    # OPT flattens (batch, sequence) into one dimension before its MLP: the unit activations are seen with
    # that dimension restored, as (batch, sequence, units) like every other family's.
    flat_tokens: bool = False
    # Whether a silenced unit can regrow (mask_mode "regrow"): its activation needs a non-zero derivative
    # at 0. ReLU's is 0, so a unit whose input weights are zeroed gets no gradient and stays silent.
    regrows: bool = True

    @property
    def unit_weights(self) -> tuple[tuple[str, int], ...]:
        return self.unit_in + self.unit_other


FAMILIES: tuple[ArchFamily, ...] = (
    ArchFamily(
        name="bert",
        model_types=("bert", "roberta", "xlm-roberta", "electra", "deberta-v2"),
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
        # GPT-NeoX (Pythia): a plain MLP under its own names.
        name="gpt-neox",
        model_types=("gpt_neox",),
        blocks="layers",
        mlp_out="mlp.dense_4h_to_h",
        unit_in=(("mlp.dense_h_to_4h.weight", 0), ("mlp.dense_h_to_4h.bias", 0)),
        unit_other=(("mlp.dense_4h_to_h.weight", 1),),
        causal=True,
    ),
    ArchFamily(
        # OPT keeps the MLP in the decoder layer itself (fc1, ReLU, fc2).
        name="opt",
        model_types=("opt",),
        blocks="decoder.layers",
        mlp_out="fc2",
        unit_in=(("fc1.weight", 0), ("fc1.bias", 0)),
        unit_other=(("fc2.weight", 1),),
        causal=True,
        flat_tokens=True,
        regrows=False,  # ReLU
    ),
    ArchFamily(
        name="phi",
        model_types=("phi",),
        blocks="layers",
        mlp_out="mlp.fc2",
        unit_in=(("mlp.fc1.weight", 0), ("mlp.fc1.bias", 0)),
        unit_other=(("mlp.fc2.weight", 1),),
        causal=True,
    ),
    ArchFamily(
        # Gated MLP: the unit is act(gate) * up, so both input projections carry it (Gemma's GELU and
        # Llama's SiLU are both 0 at 0).
        name="llama",
        model_types=("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2"),
        blocks="layers",
        mlp_out="mlp.down_proj",
        unit_in=(("mlp.gate_proj.weight", 0), ("mlp.gate_proj.bias", 0)),
        unit_other=(("mlp.up_proj.weight", 0), ("mlp.up_proj.bias", 0), ("mlp.down_proj.weight", 1)),
        causal=True,
    ),
)


# Families whose MLP does not fit a row: one unit's weights are not a slice along one dimension of each
# parameter. Said plainly instead of "unknown".
MISFITS = {
    "phi3": "Phi-3 fuses the gate and up projections into one matrix (gate_up_proj), so a unit is two rows of "
            "it (i and i + intermediate size), which a row of the table cannot express",
}


def family_of(model: nn.Module) -> ArchFamily:
    return family_for_type(getattr(getattr(model, "config", None), "model_type", None))


def family_for_type(model_type: str | None) -> ArchFamily:
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    table = "; ".join(f"{f.name} ({', '.join(f.model_types)})" for f in FAMILIES)
    why = f"{MISFITS[model_type]}. " if model_type in MISFITS else ""
    raise UnknownNameError(
        "architecture (config.model_type)", str(model_type), [t for f in FAMILIES for t in f.model_types],
        hint=f"{why}Supported families: {table}. A family whose MLP unit is one slice of each of its weights is one "
             "row in bench/neurons/architectures.py:FAMILIES",
    )


def blocks_of(model: nn.Module, family: ArchFamily) -> nn.ModuleList:
    base = getattr(model, "base_model", model)
    return base.get_submodule(family.blocks)


def block_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """Every linear layer inside the transformer blocks, by its name in `model`: where the benchmark's units
    live, and what weight-only attacks (quantization, adapters) change; embeddings and task heads are not in it."""
    blocks = blocks_of(model, family_of(model))
    inside = {id(m) for m in blocks.modules()}
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear) and id(m) in inside}
