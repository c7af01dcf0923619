"""Batched, seeded sampling from a causal LM: left padding, the KV cache, one call per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from bench.core.progress import progress_bar
from bench.models.precision import autocast_for
from bench.models.training import evaluating


@dataclass(frozen=True)
class SamplingSettings:
    max_new_tokens: int = 30
    top_k: int = 50
    temperature: float = 1.0
    batch_size: int = 50
    seed: int = 0


def left_padded(tokenizer, texts: Sequence[str], device: torch.device) -> dict[str, torch.Tensor]:
    """Token ids padded on the left, so every row's next token comes right after its prompt."""
    rows = [tokenizer(text, add_special_tokens=True)["input_ids"] for text in texts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row)
        mask[i, width - len(row):] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


@torch.no_grad()
def sample_completions(model: nn.Module, tokenizer, prompts: Sequence[str], settings: SamplingSettings,
                       autocast_dtype: torch.dtype | None = None, description: str = "generate") -> list[str]:
    """One sampled completion per prompt (repeat a prompt to sample it N times). Batch i is seeded with
    (seed, i), so the same seed gives the same texts on the same device and batch size."""
    device = next(model.parameters()).device
    with evaluating(model):
        completions: list[str] = []
        starts = range(0, len(prompts), settings.batch_size)
        for number, start in enumerate(progress_bar(starts, description, total=len(starts))):
            batch = left_padded(tokenizer, prompts[start:start + settings.batch_size], device)
            generator_seed = settings.seed * 1_000_003 + number
            torch.manual_seed(generator_seed)  # generate() samples from the global generator (CUDA's too)
            with autocast_for(device, autocast_dtype):
                out = model.generate(**batch, do_sample=True, top_k=settings.top_k, top_p=1.0,
                                     temperature=settings.temperature, max_new_tokens=settings.max_new_tokens,
                                     pad_token_id=tokenizer.pad_token_id)
            new_tokens = out[:, batch["input_ids"].shape[1]:]
            completions += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return completions
