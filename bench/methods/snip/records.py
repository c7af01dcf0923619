"""Activation records (Bills et al. 2023, as SNIP uses them): for each unit, the text excerpts where it
fires most, each token with its activation scaled 0–10.

Two streaming passes on the model's device, restricted to the candidate units: the first keeps, per unit,
the running top sequences by their maximum activation (and where that maximum is); the second reruns only
those sequences and slices a window of activations around each maximum. Nothing per-token is kept beyond a
batch except the windows themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bench.api.data import Examples
from bench.core.progress import progress_bar
from bench.models.training import evaluating
from bench.neurons.activations import IGNORE, concept_labels
from bench.neurons.units import UnitSpace


@dataclass(frozen=True)
class ActivationRecords:
    """One unit's excerpts: token texts and activations (raw and scaled to integers 0–10)."""

    layer: int
    index: int
    excerpts: list[list[str]]
    activations: list[list[float]]
    max_activation: float

    def scaled(self) -> list[list[int]]:
        """Per the explanation prompt: 10 is this unit's largest activation in its records, 0 is none."""
        top = self.max_activation
        if top <= 0:
            return [[0] * len(tokens) for tokens in self.excerpts]
        return [[int(max(0, min(10, round(10 * value / top)))) for value in values] for values in self.activations]

    def highest_activating_tokens(self, n: int) -> list[str]:
        """The distinct tokens with the highest activations across the records, strongest first."""
        pairs = sorted(((v, t.strip()) for tokens, values in zip(self.excerpts, self.activations)
                        for t, v in zip(tokens, values) if t.strip()), reverse=True)
        seen: list[str] = []
        for _, token in pairs:
            if token.lower() not in (s.lower() for s in seen):
                seen.append(token)
            if len(seen) == n:
                break
        return seen


def _valid(batch: dict[str, torch.Tensor], space: UnitSpace) -> torch.Tensor:
    """Where a unit's activation counts: attended tokens that carry a concept label (see `concept_labels`)."""
    labels = batch.get("labels")
    if labels is None:
        labels = torch.where(batch["attention_mask"].bool(), 0, IGNORE)
    return concept_labels(labels, batch["attention_mask"], space) != IGNORE


@torch.no_grad()
def activation_records(model: nn.Module, space: UnitSpace, data: Examples, units: torch.Tensor, tokenizer, *,
                       n_records: int = 3, window: int = 12, batch_size: int = 32) -> list[ActivationRecords]:
    """Records for `units` ([N, 2] rows of (layer, index)), in that order."""
    device = next(model.parameters()).device
    n_units = units.shape[0]
    per_layer = {layer: torch.nonzero(units[:, 0] == layer).flatten() for layer in units[:, 0].unique().tolist()}
    columns = {layer: units[rows, 1].to(device) for layer, rows in per_layer.items()}
    per_layer = {layer: rows.to(device) for layer, rows in per_layer.items()}
    best = torch.full((n_records, n_units), float("-inf"), device=device)
    best_seq = torch.zeros((n_records, n_units), dtype=torch.long, device=device)
    best_pos = torch.zeros((n_records, n_units), dtype=torch.long, device=device)
    state: dict[str, torch.Tensor | int] = {}

    def top_sequences(layer: int, acts: torch.Tensor) -> None:
        if layer not in columns:
            return None
        rows = per_layer[layer]
        chosen = acts[..., columns[layer]].float().masked_fill(~state["valid"].unsqueeze(-1), float("-inf"))
        peak, where = chosen.max(dim=1)  # per sequence: [B, n_layer_units]
        seq = torch.arange(peak.shape[0], device=device).unsqueeze(1).expand_as(peak) + state["offset"]
        values = torch.cat([best[:, rows], peak])
        order = values.topk(n_records, dim=0).indices
        best[:, rows] = values.gather(0, order)
        best_seq[:, rows] = torch.cat([best_seq[:, rows], seq]).gather(0, order)
        best_pos[:, rows] = torch.cat([best_pos[:, rows], where]).gather(0, order)
        return None

    with evaluating(model):
        with space.hooked(model, top_sequences):
            offset = 0
            for batch in progress_bar(data.loader(batch_size), "activation records (pass 1: top sequences)"):
                state["valid"], state["offset"] = _valid(batch, space).to(device), offset
                model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
                offset += batch["input_ids"].shape[0]
        found = best > float("-inf")
        # (layer, sequence) -> [(unit, record slot, position)]: each layer's hook visits only its own windows.
        wanted: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for slot, unit in torch.nonzero(found).tolist():
            key = (int(units[unit, 0]), int(best_seq[slot, unit]))
            wanted.setdefault(key, []).append((unit, slot, int(best_pos[slot, unit])))
        sequences = sorted({seq for _, seq in wanted})
        excerpts: dict[tuple[int, int], tuple[list[int], list[float]]] = {}

        def slice_windows(layer: int, acts: torch.Tensor) -> None:
            for row, seq in enumerate(state["sequences"]):
                # A window stays within the positions that count: a BOS token or an attention sink at the
                # start would otherwise be shown, and its activation would set the 0–10 scale.
                counted = torch.nonzero(state["valid"][row]).flatten()
                low, high = int(counted[0]), int(counted[-1]) + 1
                for unit, slot, pos in wanted.get((layer, seq), ()):
                    ids = data.examples[seq]["input_ids"]
                    start = max(low, min(pos - (2 * window) // 3, high - window))
                    stop = min(high, start + window)
                    values = acts[row, start:stop, int(units[unit, 1])].float()
                    values = values.masked_fill(~state["valid"][row, start:stop], 0.0).cpu().tolist()
                    excerpts[(unit, slot)] = (ids[start:stop], values)
            return None

        subset = Examples([data.examples[s] for s in sequences], data.collate)
        with space.hooked(model, slice_windows):
            for number, batch in enumerate(progress_bar(subset.loader(batch_size),
                                                        "activation records (pass 2: excerpts)")):
                state["sequences"] = sequences[number * batch_size:(number + 1) * batch_size]
                state["valid"] = _valid(batch, space).to(device)
                model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))

    records = []
    for unit in range(n_units):
        slots = [slot for slot in range(n_records) if (unit, slot) in excerpts]
        texts = [[tokenizer.decode([token]) for token in excerpts[(unit, slot)][0]] for slot in slots]
        values = [excerpts[(unit, slot)][1] for slot in slots]
        top = max((max(v) for v in values if v), default=0.0)
        records.append(ActivationRecords(int(units[unit, 0]), int(units[unit, 1]), texts, values, float(top)))
    return records
