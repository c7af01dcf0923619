"""Sentence embedders (a registry: `sentence-transformers`, `openai`), L2-normalised and cached by content.

The offline default is all-MiniLM-L6-v2 from the assets, loaded by sentence-transformers with the pooling
and normalisation its own folder declares.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bench.core.errors import BenchError
from bench.core.plugins import EMBEDDERS
from bench.llm.cache import LLMCache, content_key

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class EmbedderSettings:
    model: str | None = None  # backend default when None
    device: torch.device | None = None
    base_url: str | None = None  # openai only
    api_key_env: str = "OPENAI_API_KEY"
    max_retries: int = 5
    timeout_s: float = 60.0


class Embedder(ABC):
    def __init__(self, settings: EmbedderSettings) -> None:
        self.settings = settings

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What the vectors depend on (part of every cache key and of the record); never a secret."""

    @abstractmethod
    def embed_uncached(self, texts: list[str]) -> np.ndarray:
        """[len(texts), dim] float32 rows."""

    def embed(self, texts: list[str], cache: LLMCache | None = None) -> torch.Tensor:
        """Unit-length rows, each looked up in (and added to) `cache` by (embedder, text)."""
        if not texts:
            raise BenchError("nothing to embed")
        rows: list[np.ndarray | None] = [None] * len(texts)
        keys = [content_key("embedding", embedder=self.identity(), text=text) for text in texts]
        if cache is not None:
            rows = [cache.get_vector(key) for key in keys]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            fresh = self.embed_uncached([texts[i] for i in missing])
            for i, vector in zip(missing, fresh):
                rows[i] = vector
                if cache is not None:
                    cache.put_vector(keys[i], "embedding", self.identity()["model"], vector)
        matrix = torch.from_numpy(np.stack(rows)).float()
        return torch.nn.functional.normalize(matrix, dim=-1)




@EMBEDDERS.register("sentence-transformers")
class SentenceTransformersEmbedder(Embedder):
    """sentence-transformers model: an offline asset name, a local folder or a hub id."""

    def __init__(self, settings: EmbedderSettings) -> None:
        super().__init__(settings)
        from sentence_transformers import SentenceTransformer

        from bench.models.loading import locate_model, quiet_transformers

        quiet_transformers()
        self.ref = settings.model or DEFAULT_EMBEDDER
        source, where = locate_model(self.ref)
        device = str(settings.device or "cpu")
        try:
            self.model = SentenceTransformer(where, device=device, local_files_only=not source.startswith("hub:"))
        except OSError as exc:
            raise BenchError(f"could not load the sentence embedder {self.ref!r} from {where}: {exc}") from exc

    def identity(self) -> dict[str, Any]:
        return {"backend": "sentence-transformers", "model": self.ref}

    def embed_uncached(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=256, convert_to_numpy=True, normalize_embeddings=True,
                                 show_progress_bar=False).astype(np.float32)


@EMBEDDERS.register("openai")
class OpenAIEmbedder(Embedder):
    """Embeddings from any OpenAI-compatible endpoint (`base_url`, key from the environment)."""

    batch = 256

    def __init__(self, settings: EmbedderSettings) -> None:
        super().__init__(settings)
        from bench.llm.openai_backend import openai_client

        self.model_name = settings.model or "text-embedding-3-small"
        self.client = openai_client(settings.base_url, settings.api_key_env, settings.max_retries, settings.timeout_s,
                                    sync=True)

    def identity(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self.model_name, "base_url": str(self.client.base_url)}

    def embed_uncached(self, texts: list[str]) -> np.ndarray:
        from bench.llm.openai_backend import calling, malformed

        rows = []
        for start in range(0, len(texts), self.batch):
            chunk = texts[start:start + self.batch]
            with calling(self.client.base_url, self.settings.api_key_env):
                response = self.client.embeddings.create(model=self.model_name, input=chunk)
            data = getattr(response, "data", None)
            if not isinstance(data, list) or len(data) != len(chunk):
                raise malformed(self.client.base_url, "embedding", response)
            try:
                vectors = [item.embedding for item in sorted(data, key=lambda item: item.index)]
            except (AttributeError, TypeError):
                raise malformed(self.client.base_url, "embedding", response) from None
            if not all(isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v) for v in vectors):
                raise malformed(self.client.base_url, "embedding", response)
            rows += [np.asarray(v, dtype=np.float32) for v in vectors]
        if len({row.shape for row in rows}) != 1:
            raise BenchError(f"{self.client.base_url} returned embeddings of different sizes")
        return np.stack(rows)


def load_embedder(name: str, settings: EmbedderSettings) -> Embedder:
    return EMBEDDERS.get(name)(settings)


def token_vectors(ids: torch.Tensor, tokenizer, embedder: Embedder,
                  cache: LLMCache | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectors for the distinct token ids in `ids`: (vectors [n_unique, dim], ids remapped into them)."""
    unique, remapped = torch.unique(ids, return_inverse=True)
    return embedder.embed(token_strings(unique.tolist(), tokenizer), cache), remapped


def token_strings(ids: list[int], tokenizer) -> list[str]:
    """Readable token texts: WordPiece `##` and byte-level `Ġ` markers removed."""
    return [token.replace("##", "").replace("Ġ", " ").replace("▁", " ").strip() or token
            for token in tokenizer.convert_ids_to_tokens(ids)]
