"""Loss pieces the weight-editing methods share: per-example negative log-likelihood of a batch's labelled
targets, under either head the tasks use.

A causal LM predicts token t from the tokens before it, so its labels are shifted by one (as `transformers`
does inside `model(**batch).loss`); a token classifier predicts each position's own label. Which one a model is
comes from the architecture table (`ArchFamily.causal`), not from its class name.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bench.neurons.architectures import family_of

IGNORE = -100


@dataclass(frozen=True)
class ExampleNll:
    """Summed NLL of each example's targets and how many targets it has ([batch] each)."""

    total: torch.Tensor
    count: torch.Tensor

    @property
    def mean_per_token(self) -> torch.Tensor:
        """Each example's mean NLL per target (length-normalised; 0 for an example without targets)."""
        return self.total / self.count.clamp(min=1)

    def batch_mean(self) -> torch.Tensor:
        """The mean NLL over every target of the batch: what `model(**batch).loss` is."""
        return self.total.sum() / self.count.sum().clamp(min=1)


def nll_from_logits(logits: torch.Tensor, labels: torch.Tensor, shift: bool) -> ExampleNll:
    """Per-example NLL of `labels` (-100: not a target) under `logits` [batch, positions, classes]."""
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    per_target = nn.functional.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=IGNORE,
                                             reduction="none")
    return ExampleNll(per_target.sum(dim=1), (labels != IGNORE).sum(dim=1))


def example_nll(model: nn.Module, batch: dict[str, torch.Tensor]) -> ExampleNll:
    """The model's per-example NLL of the batch's labelled targets."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return nll_from_logits(logits, batch["labels"], shift=family_of(model).causal)
