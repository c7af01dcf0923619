"""Detoxify (Hanu & Unitary 2020), the scorer of the SNIP paper, for users who have its checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.errors import BenchError
from bench.core.plugins import SCORERS
from bench.tasks.scorers import ScorerSettings, ToxicityScorer


@SCORERS.register("detoxify")
class DetoxifyScorer(ToxicityScorer):
    """Detoxify 'original' (BERT on Jigsaw); needs its checkpoint (a local file or its torch.hub cache)."""

    description = ("Detoxify 'original' (the paper's scorer); needs `pip install 'relearn-bench[detoxify]'` "
                   "and its checkpoint")

    def __init__(self, settings: ScorerSettings) -> None:
        super().__init__(settings)
        try:
            from detoxify import Detoxify
        except ImportError:
            raise BenchError("the detoxify scorer needs the `detoxify` extra: `pip install 'relearn-bench[detoxify]'` "
                             "(and its checkpoint, --task-option scorer_checkpoint=PATH); "
                             "the offline default scorer is jigsaw-lstm") from None
        checkpoint = settings.checkpoint
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise BenchError(f"detoxify checkpoint {checkpoint} does not exist")
        try:
            # Without a checkpoint, Detoxify looks in torch.hub's cache and downloads when it is not there.
            self.model = Detoxify("original", checkpoint=checkpoint, device=settings.device)
        except Exception as exc:  # noqa: BLE001 - network and cache errors come in many types
            raise BenchError(f"could not load Detoxify ({type(exc).__name__}: {exc}); pass its checkpoint file "
                             "with --task-option scorer_checkpoint=PATH, or use the offline scorer jigsaw-lstm") from exc
        self.version = f"detoxify=={metadata.version('detoxify')}"
        self.checkpoint = checkpoint

    def score(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), self.settings.batch_size):
            out.extend(self.model.predict(list(texts[start:start + self.settings.batch_size]))["toxicity"])
        return np.asarray(out, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "checkpoint": self.checkpoint or "torch.hub cache", "label": "toxicity"}
