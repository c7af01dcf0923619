"""Round-to-nearest weight quantization: no training, no data. Zhang et al. (ICLR 2025, "Catastrophic failure of
LLM unlearning via quantization") find that quantizing an unlearned model to 4 bits brings much of the removed
knowledge back (from 21% to 83% retained in their measurements): unlearning that moves weights by less than a
quantization step is undone by rounding.

Every linear weight inside the transformer blocks (the units the benchmark prunes live there; embeddings and
task heads stay at full precision, as in the usual weight-only schemes) is quantized symmetrically per group
of `group_size` consecutive input weights of a row: scale = max |w| / (2^(bits-1) - 1), w ← scale · round(w /
scale), so a group holds at most 2^bits levels and a zero weight stays exactly zero: a pruned unit's zeroed
rows and columns stay pruned (the harness's mask hooks hold it as well). The weights are stored back in their
own dtype (simulated quantization: what a quantized model computes, up to its kernels' arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bench.api.attack import Attack, AttackContext, AttackResult
from bench.core.errors import BenchError
from bench.core.plugins import ATTACKS
from bench.neurons.architectures import block_linears


@dataclass(frozen=True)
class QuantizeOptions:
    bits: int = 4  # 8 or 4 in the paper; 2 to 8 accepted
    group_size: int = 128  # input weights sharing one scale (the row's length when it is shorter)

    def __post_init__(self) -> None:
        if not 2 <= self.bits <= 8:
            raise BenchError(f"bits must be 2 to 8, got {self.bits}")
        if self.group_size < 1:
            raise BenchError(f"group_size must be at least 1, got {self.group_size}")


@torch.no_grad()
def quantize_rtn(weight: torch.Tensor, bits: int, group_size: int) -> torch.Tensor:
    """`weight` (out, in) rounded to nearest on a symmetric grid of 2^bits levels per group of inputs."""
    out_features, in_features = weight.shape
    pad = (-in_features) % group_size
    w = torch.nn.functional.pad(weight.float(), (0, pad)).reshape(out_features, -1, group_size)
    top = 2 ** (bits - 1) - 1
    scale = w.abs().amax(dim=-1, keepdim=True) / top
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero group stays zero
    q = torch.clamp(torch.round(w / scale), -top - 1, top) * scale
    return q.reshape(out_features, -1)[:, :in_features].to(weight.dtype)


@ATTACKS.register("quantize")
class Quantize(Attack):
    """Round-to-nearest group-wise weight quantization, 4 or 8 bits, no training (Zhang et al., ICLR 2025)."""

    version = 1
    Options = QuantizeOptions
    trains = False

    def attack(self, model: nn.Module, ctx: AttackContext) -> AttackResult:
        o: QuantizeOptions = self.options
        linears = list(block_linears(model).values())
        if not linears:
            raise BenchError("quantize: the model's blocks hold no linear layer to quantize")
        with torch.no_grad():
            for layer in linears:
                layer.weight.copy_(quantize_rtn(layer.weight, o.bits, o.group_size))
        ctx.on_checkpoint(1, 0.0)  # one application: the quantized model
        weights = sum(layer.weight.numel() for layer in linears)
        return AttackResult(0, None, unit="applications",
                            info={"layers": len(linears), "weights": weights, "bits": o.bits, "group_size": o.group_size,
                                  "scheme": "symmetric round-to-nearest, per group of inputs, simulated in the model's dtype"})
