"""The neuroplasticity analysis (Lo, Cohen & Barez 2024) of one run.

During a run with `analyze`, a snapshot is taken at the base model, right after pruning, and at every
relearning checkpoint: one streaming pass over the concept data gives each unit's probeless salience for
the concept and its highest-activating tokens (HATs). From the snapshots:
  - concept saliency per layer: % of (unpruned) units with saliency > 0.5, and mean saliency;
  - concept similarity: cosine between the mean embedding of a unit's HATs at the base model and at a later
    snapshot, per layer the share above 0.5 with a 95% confidence interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from bench.api.data import ConceptData
from bench.core.errors import BenchError
from bench.neurons.activations import UnitStatistics, collect_unit_statistics
from bench.neurons.ranking import (
    concept_saliency,
    mean_saliency_per_layer,
    probeless_scores,
    salient_share_per_layer,
)
from bench.neurons.units import UnitSpace

HAT_K = 5
SIMILARITY_THRESHOLD = 0.5


@dataclass(frozen=True)
class Snapshot:
    label: str  # "base", "pruned", "relearn@16", ...
    step: int
    scores: torch.Tensor  # [layers, width] probeless salience
    hat_ids: torch.Tensor  # [layers, HAT_K, width] token ids, most activating first
    hat_values: torch.Tensor  # [layers, HAT_K, width] their activations, normalised so each unit's top = 1


def take_snapshot(model: nn.Module, space: UnitSpace, concept: ConceptData, batch_size: int, label: str,
                  step: int = 0) -> Snapshot:
    stats = collect_unit_statistics(model, space, concept.data.loader(batch_size), n_labels=len(concept.label_names),
                                    top_k=HAT_K, description=f"analysis snapshot ({label})")
    return snapshot_from(stats, concept, label, step)


def snapshot_from(stats: UnitStatistics, concept: ConceptData, label: str, step: int = 0) -> Snapshot:
    top = stats.top_values[:, :HAT_K]
    scale = top[:, :1].abs().clamp(min=1e-12)
    return Snapshot(label, step, probeless_scores(stats.label_means, len(concept.label_names) - 1),
                    stats.top_token_ids[:, :HAT_K], top / scale)


def save_snapshots(snapshots: list[Snapshot], path: Path) -> None:
    tensors, meta = {}, {}
    for i, snap in enumerate(snapshots):
        for name in ("scores", "hat_ids", "hat_values"):
            tensors[f"{i}.{name}"] = getattr(snap, name).contiguous()
        meta[str(i)] = f"{snap.label}|{snap.step}"
    save_file(tensors, str(path), metadata=meta)


def load_snapshots(path: Path) -> list[Snapshot]:
    if not path.exists():
        raise BenchError(f"{path} does not exist: run with --analyze to record the analysis snapshots")
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    snapshots = []
    for i in sorted(meta, key=int):
        label, step = meta[i].rsplit("|", 1)
        snapshots.append(Snapshot(label, int(step), tensors[f"{i}.scores"], tensors[f"{i}.hat_ids"],
                                  tensors[f"{i}.hat_values"]))
    return snapshots


def saliency_by_layer(snapshots: list[Snapshot], pruned: torch.Tensor) -> dict[str, dict[str, list[float]]]:
    """Per snapshot: per-layer % salient units and mean saliency (pruned units excluded after pruning)."""
    out = {}
    for snap in snapshots:
        excluded = None if snap.label == "base" else pruned
        saliency = concept_saliency(snap.scores, exclude=excluded)
        out[snap.label] = {
            "percent_salient": (100 * salient_share_per_layer(saliency, excluded)).tolist(),
            "mean_saliency": mean_saliency_per_layer(saliency, excluded).tolist(),
        }
    return out


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% confidence interval of a proportion (Wilson score interval; sound near 0 and 1)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def hat_embeddings(snap: Snapshot, token_vectors: torch.Tensor) -> torch.Tensor:
    """[layers, width, dim]: each unit's HAT token vectors, averaged."""
    return token_vectors[snap.hat_ids].mean(dim=1)  # hat_ids [L, K, U] -> [L, K, U, D] -> [L, U, D]


def concept_similarity(base: Snapshot, later: Snapshot, token_vectors: torch.Tensor,
                       pruned: torch.Tensor) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """Cosine similarity of each unit's mean HAT embedding, base vs later; per layer share > 0.5 with CI."""
    similarity = nn.functional.cosine_similarity(hat_embeddings(base, token_vectors),
                                                 hat_embeddings(later, token_vectors), dim=-1)
    per_layer = []
    for layer in range(similarity.shape[0]):
        alive = ~pruned[layer]
        values = similarity[layer][alive]
        hits = int((values > SIMILARITY_THRESHOLD).sum())
        low, high = wilson_interval(hits, int(alive.sum()))
        per_layer.append({"share_similar": hits / max(1, int(alive.sum())), "ci_low": low, "ci_high": high,
                          "mean": float(values.mean()) if values.numel() else math.nan})
    return similarity, per_layer
