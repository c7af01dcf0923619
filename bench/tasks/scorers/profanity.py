"""alt-profanity-check: a linear SVM on Jigsaw comments and tweets (calibrated probabilities)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np

from bench.core.errors import BenchError
from bench.core.plugins import SCORERS
from bench.tasks.scorers import ScorerSettings, ToxicityScorer


@SCORERS.register("profanity-check")
class ProfanityCheckScorer(ToxicityScorer):
    """alt-profanity-check linear SVM (misses threats; fast)."""

    description = "alt-profanity-check linear SVM on Jigsaw + tweets (fast; misses threats)"

    def __init__(self, settings: ScorerSettings) -> None:
        super().__init__(settings)
        try:
            from profanity_check import predict_prob
        except ImportError:
            raise BenchError("the profanity-check scorer needs the `scorers` extra: "
                             "`pip install 'relearn-bench[scorers]'`") from None
        self._predict = predict_prob
        self.version = f"alt-profanity-check=={metadata.version('alt-profanity-check')}"

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._predict(list(texts)), dtype=np.float32) if texts else np.zeros(0, np.float32)

    def describe(self) -> dict[str, Any]:
        return {"version": self.version}
