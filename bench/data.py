"""Tokenised example sets that the harness trains on or streams through a model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

Example = dict[str, list[int]]
Collate = Callable[[list[Example]], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Examples:
    """Tokenised examples plus the collator that pads them into a batch (with `labels` where trained on)."""

    examples: Sequence[Example]
    collate: Collate

    def __len__(self) -> int:
        return len(self.examples)

    def loader(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> DataLoader:
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(
            list(self.examples), batch_size=batch_size, shuffle=shuffle, collate_fn=self.collate, generator=generator
        )


@dataclass(frozen=True)
class ConceptData:
    """Texts with per-token concept labels (`labels`: index into `label_names`, -100 = not a word token).

    This is everything a method may look at to find the concept.
    """

    data: Examples
    label_names: tuple[str, ...]  # e.g. ("other", "geo-loc"); the last one is the concept
