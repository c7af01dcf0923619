"""Tokenised example sets that the harness trains on or streams through a model."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from bench.core.errors import DataFormatError

Example = dict[str, list[int]]
Collate = Callable[[list[Example]], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Examples:
    """Tokenised examples plus the collator that pads them into a batch (with `labels` where trained on)."""

    examples: Sequence[Example]
    collate: Collate

    def __len__(self) -> int:
        return len(self.examples)

    def digest(self) -> str:
        """A digest of the examples' content (token ids, labels, every field), in order: what a result
        computed from them can be cached under."""
        digest = hashlib.sha256()
        for example in self.examples:
            digest.update(json.dumps({k: v.tolist() if isinstance(v, torch.Tensor) else v
                                      for k, v in sorted(example.items())}, separators=(",", ":")).encode())
        return digest.hexdigest()[:16]

    def loader(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> DataLoader:
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(
            list(self.examples), batch_size=batch_size, shuffle=shuffle, collate_fn=self.collate, generator=generator
        )


@dataclass(frozen=True)
class Paired:
    """Forget examples, each with a retain example (the retain set cycles when it is the shorter), batched as
    `{"forget": batch, "retain": batch}`: what a gradient unlearning method trains on. Its length is the
    forget set's, so an epoch sees every forget example once."""

    forget: Examples
    retain: Examples

    def __len__(self) -> int:
        return len(self.forget)

    def loader(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> DataLoader:
        # Shuffled, each epoch pairs the forget set with other retain examples (an epoch's order depends only on
        # the seed, so a resumed run takes the same batches).
        order = (torch.randperm(len(self.retain), generator=torch.Generator().manual_seed(seed + 1)).tolist()
                 if shuffle else list(range(len(self.retain))))
        pairs = [(i, order[i % len(order)]) for i in range(len(self.forget))]

        def collate(rows: list[tuple[int, int]]) -> dict[str, dict[str, torch.Tensor]]:
            return {"forget": self.forget.collate([self.forget.examples[f] for f, _ in rows]),
                    "retain": self.retain.collate([self.retain.examples[r] for _, r in rows])}

        generator = torch.Generator().manual_seed(seed)
        return DataLoader(pairs, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=generator)


@dataclass(frozen=True)
class ConceptData:
    """Texts with per-token concept labels (`labels`: index into `label_names`, -100 = not a word token).

    This is everything a method may look at to find the concept.
    """

    data: Examples
    label_names: tuple[str, ...]  # e.g. ("other", "geo-loc"); the last one is the concept


def jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a line that is not a JSON object is an error at file:line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(str(path), number, f"not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataFormatError(str(path), number, "expected a JSON object")
            yield number, row
