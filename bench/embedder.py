"""The default sentence embedder: all-MiniLM-L6-v2 (offline asset) with mean pooling, L2-normalised."""

from __future__ import annotations

import torch

from bench.models import resolve

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


class SentenceEmbedder:
    def __init__(self, ref: str = DEFAULT_EMBEDDER, device: torch.device | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer

        _, where = resolve(ref)
        self.device = device or torch.device("cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=True)
        self.model = AutoModel.from_pretrained(where, local_files_only=True).to(self.device).eval()

    @torch.no_grad()
    def embed(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        vectors = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=32,
                                   return_tensors="pt").to(self.device)
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # mean pooling, as sentence-transformers
            vectors.append(torch.nn.functional.normalize(pooled, dim=-1).cpu())
        return torch.cat(vectors) if vectors else torch.zeros(0, self.model.config.hidden_size)


def token_vectors(ids: torch.Tensor, tokenizer, embedder: SentenceEmbedder) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectors for the distinct token ids in `ids`: (vectors [n_unique, dim], ids remapped into them)."""
    unique, remapped = torch.unique(ids, return_inverse=True)
    strings = [token.replace("##", "").replace("Ġ", " ").strip() or token
               for token in tokenizer.convert_ids_to_tokens(unique.tolist())]
    return embedder.embed(strings), remapped
