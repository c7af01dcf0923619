"""Streaming per-unit activation statistics, computed on the model's device during forward passes.

Nothing per-token leaves the hook: each batch is folded into per-label sums and sums of squares (one-hot
matmuls, summed in float64 so long streams do not lose precision) and a running top-k of activations with
their token ids. Positions that carry no concept are never counted: tokens labelled -100 (special tokens,
padding) and, in a causal model, the first position of every sequence (see `concept_labels`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.core.files import atomic_file
from bench.core.progress import progress_bar
from bench.neurons.units import UnitSpace

IGNORE = -100


@dataclass(frozen=True)
class UnitStatistics:
    """What methods and analyses read about units: per-label mean activations and top-activating tokens."""

    label_means: torch.Tensor  # [layers, n_labels, width], float32; NaN where a label had no tokens
    label_vars: torch.Tensor  # [layers, n_labels, width], float32: variance within each label; NaN likewise
    label_counts: torch.Tensor  # [n_labels], tokens seen per label
    top_values: torch.Tensor  # [layers, top_k, width], descending
    top_token_ids: torch.Tensor  # [layers, top_k, width]
    tokens: int


def save_statistics(statistics: UnitStatistics, path: Path) -> None:
    """Written to a temporary file and renamed, so a reader never sees half of it."""
    with atomic_file(path) as handle:
        torch.save(dataclasses.asdict(statistics), handle)


def load_statistics(path: Path) -> UnitStatistics:
    return UnitStatistics(**torch.load(path, weights_only=True))


class _Accumulator:
    def __init__(self, space: UnitSpace, n_labels: int, top_k: int, device: torch.device) -> None:
        shape = (space.n_layers, n_labels, space.width)
        self.n_labels, self.top_k = n_labels, top_k
        self.sums = torch.zeros(shape, dtype=torch.float64, device=device)
        self.squares = torch.zeros(shape, dtype=torch.float64, device=device)
        self.counts = torch.zeros(n_labels, dtype=torch.float64, device=device)
        # Pre-filled with -inf so a merge is one cat + topk; slots never filled stay -inf.
        self.top_values = torch.full((space.n_layers, top_k, space.width), float("-inf"), device=device)
        self.top_ids = torch.zeros((space.n_layers, top_k, space.width), dtype=torch.long, device=device)
        self.tokens = 0
        # Set per batch by the loop, read by the hooks.
        self.valid: torch.Tensor | None = None
        self.onehot: torch.Tensor | None = None
        self.ids: torch.Tensor | None = None

    def start_batch(self, input_ids: torch.Tensor, labels: torch.Tensor) -> None:
        self.valid = labels.reshape(-1) != IGNORE
        flat_labels = labels.reshape(-1)[self.valid]
        self.onehot = nn.functional.one_hot(flat_labels, self.n_labels).float()
        self.ids = input_ids.reshape(-1)[self.valid]
        self.counts += self.onehot.sum(0).double()
        self.tokens += int(self.valid.sum())

    def observe(self, layer: int, acts: torch.Tensor) -> None:
        flat = acts.reshape(-1, acts.shape[-1])[self.valid].float()  # [n_valid, width]
        if flat.shape[0] == 0:
            return
        self.sums[layer] += (self.onehot.T @ flat).double()
        # In float64 from the start: a variance is E[x²] − E[x]², which float32 products would cancel away
        # for a unit whose mean is large next to its spread.
        wide = flat.double()
        self.squares[layer] += self.onehot.double().T @ wide.square()
        if self.top_k:
            values, rows = flat.topk(min(self.top_k, flat.shape[0]), dim=0)
            merged_values = torch.cat([self.top_values[layer], values])
            merged_ids = torch.cat([self.top_ids[layer], self.ids[rows]])
            best, order = merged_values.topk(self.top_k, dim=0)
            self.top_values[layer] = best
            self.top_ids[layer] = merged_ids.gather(0, order)

    def result(self) -> UnitStatistics:
        counts = self.counts.view(1, -1, 1)
        means = torch.where(counts > 0, self.sums / counts.clamp(min=1), torch.nan)
        variances = (torch.where(counts > 0, self.squares / counts.clamp(min=1), torch.nan) - means.square()).clamp(min=0)
        return UnitStatistics(
            label_means=means.float().cpu(),
            label_vars=variances.float().cpu(),
            label_counts=self.counts.cpu(),
            top_values=self.top_values.cpu(),
            top_token_ids=self.top_ids.cpu(),
            tokens=self.tokens,
        )


def concept_labels(labels: torch.Tensor, attention_mask: torch.Tensor, space: UnitSpace) -> torch.Tensor:
    """`labels` with every position that carries no concept set to -100.

    Special tokens and padding come labelled -100 from the task. A causal model also puts an attention sink
    on the first position of every sequence: SmolLM2's unit (11, 1229) averages 2,862 there and 0.38
    elsewhere on the CBT concept data, whatever the token. Counted, such a position outweighs everything else in a mean, and a
    ranking in activation units would measure which label the first tokens happen to carry. So the first
    attended position of each row is never counted (causal tasks also put a BOS token there where the
    tokenizer has one, so no word is lost).
    """
    if not space.family.causal:
        return labels
    first = attention_mask.long().argmax(dim=1)  # the first attended position, under left or right padding
    labels = labels.clone()
    labels[torch.arange(labels.shape[0], device=labels.device), first] = IGNORE
    return labels


@torch.no_grad()
def collect_unit_statistics(
    model: nn.Module,
    space: UnitSpace,
    batches: Iterable[dict[str, torch.Tensor]],
    *,
    n_labels: int = 1,
    top_k: int = 0,
    description: str = "activations",
) -> UnitStatistics:
    """One pass over `batches` (dicts with input_ids, attention_mask and optional per-token `labels`).

    Tokens labelled -100 (padding, special tokens) and a causal model's first positions are skipped;
    without `labels` every other attended token counts under label 0.
    """
    device = next(model.parameters()).device
    acc = _Accumulator(space, n_labels, top_k, device)
    was_training = model.training
    model.eval()
    try:
        with space.hooked(model, lambda layer, acts: acc.observe(layer, acts)):
            for batch in progress_bar(batches, description):
                input_ids = batch["input_ids"].to(device)
                attention = batch.get("attention_mask")
                attention = attention.to(device) if attention is not None else torch.ones_like(input_ids)
                labels = batch.get("labels")
                if labels is None:
                    labels = torch.where(attention.bool(), 0, IGNORE)
                acc.start_batch(input_ids, concept_labels(labels.to(device), attention, space))
                model(input_ids=input_ids, attention_mask=attention)
    finally:
        model.train(was_training)
    return acc.result()
