"""Toxicity scorers: text → probability that it is toxic. One registry, like methods and tasks; a scorer
from another package registers through the `bench.scorers` entry point group."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bench.core.plugins import SCORERS


@dataclass(frozen=True)
class ScorerSettings:
    checkpoint: str | None = None  # a local checkpoint, for scorers that have one (detoxify)
    device: str = "cpu"
    batch_size: int = 256


class ToxicityScorer(ABC):
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""

    def __init__(self, settings: ScorerSettings) -> None:
        self.settings = settings

    @abstractmethod
    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Toxicity in [0, 1] per text (the 'toxic' label of a Jigsaw-style classifier)."""

    def describe(self) -> dict[str, Any]:
        """Name, version and what was loaded, for the record."""
        return {"version": self.version}




def load_scorer(name: str, settings: ScorerSettings) -> ToxicityScorer:
    return SCORERS.get(name)(settings)
