"""Explainer backends (a registry): where a unit's one-line explanation comes from.

- `local`, `openai`: an LLM reads the unit's activation records (prompt A.1); the same LLM lists the forget
  set's concepts (prompt A.2) and, for `llm-select`, rates units.
- `hats`: no LLM; the explanation is the unit's highest-activating tokens and the concepts are the forget
  set's most distinctive words. Cheap and deterministic: an ablation, and what CI runs.
- `file`: precomputed explanations from JSONL, either `{"layer", "index", "explanation", "score"}` rows or
  OpenAI's published neuron-explainer rows (`layer_index`, `neuron_index`, `explanations`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from bench.api.data import jsonl_objects
from bench.core.errors import BenchError, DataFormatError
from bench.core.plugins import EXPLAINERS
from bench.llm.cache import LLMCache
from bench.llm.chat import ChatModel, ChatSettings, load_chat
from bench.methods.snip.prompts import (
    concepts_request,
    explanation_request,
    parse_concepts,
    parse_explanation,
)
from bench.methods.snip.records import ActivationRecords


@dataclass(frozen=True)
class Explanation:
    layer: int
    index: int
    text: str  # "" when the unit never fired on the records' text, or the reply held no sentence
    score: float | None = None  # the explanation's own quality score, when the backend has one


@dataclass(frozen=True)
class BackendSettings:
    """What every backend may need; each reads its part."""

    model: str | None
    base_url: str | None
    api_key_env: str
    max_concurrency: int
    max_retries: int
    batch_size: int
    device: torch.device
    explanations_file: str | None
    concepts_backend: str


class Explainer(ABC):
    needs_records: ClassVar[bool] = True  # False: explanations come from elsewhere, every unit is a candidate

    def __init__(self, settings: BackendSettings, cache: LLMCache) -> None:
        self.settings, self.cache = settings, cache

    @abstractmethod
    def identity(self) -> dict[str, Any]: ...

    @abstractmethod
    def explain(self, records: list[ActivationRecords]) -> list[Explanation]: ...

    @abstractmethod
    def dataset_concepts(self, samples: list[str], distinctive: list[str], max_concepts: int) -> list[str]: ...

    def chat(self) -> ChatModel | None:
        """The LLM behind this backend, for ratings (`llm-select`); None when there is none."""
        return None

    def explained_units(self) -> list[tuple[int, int]] | None:
        """Backends that bring their own explanations name the units they cover."""
        return None




class LLMExplainer(Explainer):
    backend: ClassVar[str]

    def __init__(self, settings: BackendSettings, cache: LLMCache) -> None:
        super().__init__(settings, cache)
        s = settings
        self._chat = load_chat(self.backend, ChatSettings(model=s.model, device=s.device, batch_size=s.batch_size,
                                                          base_url=s.base_url, api_key_env=s.api_key_env,
                                                          max_concurrency=s.max_concurrency, max_retries=s.max_retries))

    def identity(self) -> dict[str, Any]:
        return self._chat.identity()

    def chat(self) -> ChatModel:
        return self._chat

    def explain(self, records: list[ActivationRecords]) -> list[Explanation]:
        fired = [r for r in records if r.max_activation > 0]
        replies = self._chat.complete([explanation_request(r) for r in fired], self.cache,
                                      description=f"explain units ({self.backend})")
        by_unit = {(r.layer, r.index): parse_explanation(reply) for r, reply in zip(fired, replies)}
        return [Explanation(r.layer, r.index, by_unit.get((r.layer, r.index), "")) for r in records]

    def dataset_concepts(self, samples: list[str], distinctive: list[str], max_concepts: int) -> list[str]:
        reply = self._chat.complete([concepts_request(samples, max_concepts)], self.cache,
                                    description="dataset concepts")[0]
        return parse_concepts(reply, max_concepts)


@EXPLAINERS.register("local")
class LocalExplainer(LLMExplainer):
    """An instruct model run here through transformers (offline default: SmolLM2-135M-Instruct)."""

    backend = "local"


@EXPLAINERS.register("vllm")
class VllmExplainer(LLMExplainer):
    """The local explainer's model, decoded by vLLM on a CUDA GPU (needs vLLM; refused without a GPU)."""

    backend = "vllm"


@EXPLAINERS.register("openai")
class OpenAIExplainer(LLMExplainer):
    """Any OpenAI-compatible endpoint (`base_url`, `model`; key from the environment)."""

    backend = "openai"


@EXPLAINERS.register("hats")
class HatsExplainer(Explainer):
    """No LLM: a unit's explanation is its highest-activating tokens."""

    tokens = 5

    def identity(self) -> dict[str, Any]:
        return {"backend": "hats", "tokens": self.tokens}

    def explain(self, records: list[ActivationRecords]) -> list[Explanation]:
        return [Explanation(r.layer, r.index, ", ".join(r.highest_activating_tokens(self.tokens))
                            if r.max_activation > 0 else "") for r in records]

    def dataset_concepts(self, samples: list[str], distinctive: list[str], max_concepts: int) -> list[str]:
        if not distinctive:
            raise BenchError("the forget set has no distinctive words to use as concepts; pass concepts=...")
        return distinctive[:max_concepts]


@EXPLAINERS.register("file")
class FileExplainer(Explainer):
    """Precomputed explanations from a JSONL file (`explanations_file`)."""

    needs_records = False

    def __init__(self, settings: BackendSettings, cache: LLMCache) -> None:
        super().__init__(settings, cache)
        if not settings.explanations_file:
            raise BenchError("the file backend needs explanations_file=PATH (JSONL of layer, index, explanation, score)")
        self.path = Path(settings.explanations_file).expanduser()
        self.table = read_explanations(self.path)
        self._concepts: Explainer | None = None

    def identity(self) -> dict[str, Any]:
        import hashlib

        return {"backend": "file", "path": str(self.path),
                "sha256": hashlib.sha256(self.path.read_bytes()).hexdigest()[:16], "units": len(self.table)}

    def explained_units(self) -> list[tuple[int, int]]:
        return sorted(self.table)

    def explain(self, records: list[ActivationRecords]) -> list[Explanation]:
        return [self.table[(r.layer, r.index)] for r in records]

    def dataset_concepts(self, samples: list[str], distinctive: list[str], max_concepts: int) -> list[str]:
        return self.concepts_explainer().dataset_concepts(samples, distinctive, max_concepts)

    def chat(self) -> ChatModel | None:
        return self.concepts_explainer().chat()

    def concepts_explainer(self) -> Explainer:
        """Explanations from a file say nothing about this forget set: its concepts (and any ratings) come
        from the `concepts_backend` LLM, built once."""
        if self._concepts is None:
            self._concepts = EXPLAINERS.get(self.settings.concepts_backend)(self.settings, self.cache)
        return self._concepts


def read_explanations(path: Path) -> dict[tuple[int, int], Explanation]:
    if not path.exists():
        raise BenchError(f"explanations file {path} does not exist")
    table: dict[tuple[int, int], Explanation] = {}
    for number, row in jsonl_objects(path):
        explanation = _explanation_from_row(row, str(path), number)
        table[(explanation.layer, explanation.index)] = explanation
    if not table:
        raise BenchError(f"explanations file {path} holds no explanations")
    return table


def _explanation_from_row(row: dict[str, Any], path: str, number: int) -> Explanation:
    if "explanations" in row:  # OpenAI's neuron-explainer format: the best-scored explanation wins
        layer, index = row.get("layer_index"), row.get("neuron_index")
        candidates = [(e.get("scored_simulation", {}) or {}, e.get("explanation")) for e in row["explanations"]
                      if isinstance(e, dict)]
        scored = [(s.get("ev_correlation_score"), text) for s, text in candidates if isinstance(text, str)]
        if not scored:
            raise DataFormatError(path, number, "the row's `explanations` list holds no explanation text")
        score, text = max(scored, key=lambda pair: float("-inf") if pair[0] is None else pair[0])
    else:
        layer, index, text, score = row.get("layer"), row.get("index"), row.get("explanation"), row.get("score")
    if not isinstance(layer, int) or not isinstance(index, int) or layer < 0 or index < 0:
        raise DataFormatError(path, number, "needs integer `layer` and `index` (or `layer_index`, `neuron_index`)")
    if not isinstance(text, str):
        raise DataFormatError(path, number, "needs an `explanation` string")
    if score is not None and not isinstance(score, (int, float)):
        raise DataFormatError(path, number, f"`score` must be a number, got {score!r}")
    return Explanation(layer, index, text.strip(), None if score is None else float(score))
