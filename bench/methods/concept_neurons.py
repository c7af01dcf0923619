"""Concept-neuron pruning (Lo, Cohen & Barez 2024): rank units by salience for the concept, prune the top.

`ranker=raw`: the paper's Eq. 1 (probeless): one streaming pass over the concept data for per-label mean
activations, then r(concept) = sum over other labels of |q(concept) - q(other)| per unit, in activation units.
`ranker=standardized`: the same sum with each unit's differences divided by its pooled within-label standard
deviation (from the same pass), so a unit that is large everywhere cannot outrank one that separates the
labels. The paper's models (DistilBERT, DistilGPT2, GPT-2) have comparable unit scales; a Llama-family model
has units whose scale differs by orders of magnitude.
`ranker=probe`: an elastic-net logistic probe on the activations (the paper's appendix A.3 alternative),
units ranked by the magnitude of their probe weight. The probe is fitted (SGD, log loss) on every concept
token and a seeded sample of the other tokens, bounded by `probe_max_tokens`. An elastic net sets many
weights to exactly 0; ties are broken by probeless salience rather than by position, or a large budget
would prune zero-weight units in layer order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from bench.api.method import Grid, PruningMethod, UnlearnContext
from bench.core.errors import BenchError
from bench.core.plugins import METHODS
from bench.core.progress import progress_bar
from bench.models.training import evaluating
from bench.neurons.activations import IGNORE, concept_labels
from bench.neurons.ranking import probeless_scores, standardized_scores


@dataclass(frozen=True)
class ConceptNeuronOptions:
    ranker: Literal["raw", "standardized", "probe"] = "standardized"
    probe_max_tokens: int = 20000  # activations kept in memory for the probe: concept tokens + sampled others
    probe_l1_ratio: float = 0.5  # elastic-net mix (1.0 = pure L1)
    probe_alpha: float = 1e-3  # regularisation strength
    probe_epochs: int = 20  # passes of SGD over the sampled tokens


@METHODS.register("concept-neurons")
class ConceptNeurons(PruningMethod):
    """Prune the units most salient for the concept (probeless ranking, or an elastic-net probe)."""

    description = ("Prune the units most salient for the concept (probeless ranking, Eq. 1 raw or standardized; "
                   "Lo, Cohen & Barez 2024).")
    # 2: the probe ranker fits by SGD and breaks weight ties by probeless salience. 3: statistics skip a causal
    # model's first position (attention sink) and BOS; rankers raw (Eq. 1) and standardized.
    version = 3
    Options = ConceptNeuronOptions
    grid = Grid(fractions=(0.001, 0.01, 0.1, 0.5))  # the paper prunes half of the units

    def label(self, name: str, explicit: dict[str, Any]) -> str:
        """The ranker decides what a row measures, so pages name it, default or not."""
        rest = ", ".join(f"{k}={v}" for k, v in sorted(explicit.items()) if k != "ranker")
        return f"{name} [{self.options.ranker}]" + (f" ({rest})" if rest else "")

    def score_units(self, model: nn.Module, ctx: UnlearnContext) -> torch.Tensor:
        concept_label = len(ctx.concept.label_names) - 1
        if self.options.ranker == "raw":
            return probeless_scores(ctx.concept_statistics(model).label_means, concept_label)
        if self.options.ranker == "standardized":
            stats = ctx.concept_statistics(model)
            return standardized_scores(stats.label_means, stats.label_vars, stats.label_counts, concept_label)
        return probe_scores(model, ctx, ctx.concept.data.loader(ctx.batch_size), concept_label, self.options)


@torch.no_grad()
def sample_activations(model: nn.Module, ctx: UnlearnContext, batches, concept_label: int,
                       max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """All concept tokens plus a seeded uniform sample of the others, as [tokens, layers * width]."""
    n_concept = n_other = 0
    for batch in batches:
        labels = concept_labels(batch["labels"], batch["attention_mask"], ctx.space)
        n_concept += int((labels == concept_label).sum())
        n_other += int(((labels != IGNORE) & (labels != concept_label)).sum())
    if n_concept == 0:
        raise BenchError("the concept data has no concept tokens: nothing to fit a probe on")
    keep_other = min(1.0, max(0, max_tokens - n_concept) / max(1, n_other))
    generator = torch.Generator().manual_seed(ctx.seed)
    device = next(model.parameters()).device
    rows: list[torch.Tensor] = []
    targets: list[torch.Tensor] = []
    current: dict[int, torch.Tensor] = {}
    chosen = torch.zeros(0, dtype=torch.bool)

    def keep(layer: int, acts: torch.Tensor) -> None:
        current[layer] = acts.reshape(-1, acts.shape[-1])[chosen.to(acts.device)].float().cpu()

    with evaluating(model):
        with ctx.space.hooked(model, keep):
            for batch in progress_bar(batches, "activations for the probe"):
                labels = concept_labels(batch["labels"], batch["attention_mask"], ctx.space).reshape(-1)
                valid = labels != IGNORE
                is_concept = labels == concept_label
                sampled = torch.rand(labels.shape, generator=generator) < keep_other
                chosen = valid & (is_concept | sampled)
                model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
                rows.append(torch.cat([current[layer] for layer in range(ctx.space.n_layers)], dim=1))
                targets.append(is_concept[chosen])
    return torch.cat(rows).numpy(), torch.cat(targets).numpy()


def probe_scores(model: nn.Module, ctx: UnlearnContext, batches, concept_label: int,
                 options: ConceptNeuronOptions) -> torch.Tensor:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier
    from sklearn.preprocessing import StandardScaler

    features, is_concept = sample_activations(model, ctx, batches, concept_label, options.probe_max_tokens)
    features = StandardScaler().fit_transform(features)  # weights comparable across units of any scale
    probe = SGDClassifier(loss="log_loss", penalty="elasticnet", alpha=options.probe_alpha,
                          l1_ratio=options.probe_l1_ratio, class_weight="balanced", max_iter=options.probe_epochs,
                          tol=None, random_state=ctx.seed)
    with warnings.catch_warnings():  # a fixed number of epochs is the setting, not a failure to converge
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(features, is_concept)
    weight_mass = torch.from_numpy(np.abs(probe.coef_[0])).float().view(ctx.space.shape)
    tie_break = probeless_scores(ctx.concept_statistics(model).label_means, concept_label)
    return by_weight_then_salience(weight_mass, tie_break)


def by_weight_then_salience(primary: torch.Tensor, secondary: torch.Tensor) -> torch.Tensor:
    """Scores whose order is `primary`, ties broken by `secondary` (higher first in both)."""
    order = torch.argsort(-secondary.flatten(), stable=True)
    order = order[torch.argsort(-primary.flatten()[order], stable=True)]
    scores = torch.empty(primary.numel())
    scores[order] = torch.arange(primary.numel(), 0, -1, dtype=torch.float32)
    return scores.view_as(primary)
