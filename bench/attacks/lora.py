"""Low-rank adapters (LoRA, Hu et al. 2022, with peft): the attacker trains rank-r updates of the blocks' linear
layers and leaves every base weight bit-identical, the cheap fine-tune an open-weights model invites; relearning
through adapters is among the attacks of Che et al. (2025, "Model tampering attacks enable more rigorous
evaluations of LLM capabilities") and of TamperBench.

Adapters see a layer's input before the layer does. The harness holds a persistent mask with forward pre-hooks
on the layer that reads the units (an MLP's down projection): peft wraps that layer, and the adapter's path would
read the pruned units around the hook. So the wrapper runs the wrapped layer's input hooks first
(`_carry_input_hooks`): the adapter reads the masked input, and a pruned unit stays pruned."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from bench.api.attack import Attack, AttackContext, AttackResult
from bench.attacks.finetune import fine_tune
from bench.core.errors import BenchError
from bench.core.plugins import ATTACKS
from bench.neurons.architectures import block_linears


@dataclass(frozen=True)
class LoraOptions:
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    # The rate relative to the run's relearning rate: adapters are commonly trained at about ten times the rate
    # of full fine-tuning (their updates start at zero and are scaled by alpha / rank).
    lr_factor: float = 10.0

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise BenchError(f"rank must be at least 1, got {self.rank}")
        if self.lr_factor <= 0:
            raise BenchError(f"lr_factor must be positive, got {self.lr_factor}")


def _carry_input_hooks(wrapper: nn.Module) -> None:
    """Make `wrapper` (a peft layer around `base_layer`) apply its base layer's forward pre-hooks to the input
    every path reads. Looked up at each call, so hooks removed later (the harness's, when the run ends) stop
    applying here too."""
    base = wrapper.base_layer

    def hook(module: nn.Module, args: tuple):
        for pre_hook in list(base._forward_pre_hooks.values()):
            replaced = pre_hook(base, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        return args

    wrapper.register_forward_pre_hook(hook)


@ATTACKS.register("lora")
class Lora(Attack):
    """LoRA adapters on every linear layer of the blocks, trained on the task's relearning split; base weights
    frozen and unchanged."""

    version = 1
    Options = LoraOptions

    def attack(self, model: nn.Module, ctx: AttackContext) -> AttackResult:
        from peft import LoraConfig, inject_adapter_in_model
        from peft.tuners.lora import LoraLayer

        o: LoraOptions = self.options
        targets = sorted(block_linears(model))
        if not targets:
            raise BenchError("lora: the model's blocks hold no linear layer to adapt")
        for param in model.parameters():
            param.requires_grad_(False)
        torch.manual_seed(ctx.seed)  # the adapters' initialisation, whatever ran before the attack
        inject_adapter_in_model(LoraConfig(r=o.rank, lora_alpha=o.alpha, lora_dropout=o.dropout, target_modules=targets,
                                           bias="none"), model)
        wrappers = [m for m in model.modules() if isinstance(m, LoraLayer)]
        for wrapper in wrappers:
            _carry_input_hooks(wrapper)
        adapter = [p for name, p in model.named_parameters() if "lora_" in name]
        for param in adapter:
            param.requires_grad_(True)
        lr = ctx.budget.lr * o.lr_factor
        scaled = dataclasses.replace(ctx, budget=dataclasses.replace(ctx.budget, lr=lr))
        result = fine_tune(model, ctx.relearn_data(), scaled, "relearn (LoRA)")
        result.info.update({"adapted_layers": len(wrappers), "adapter_parameters": sum(p.numel() for p in adapter),
                            "lr": lr})
        return result
