"""The Jigsaw toxic-comment BiLSTM of PyPI `toxic-comment-classifier` 0.3.0, ported from Keras to PyTorch.

The package needs TensorFlow; its weights and tokenizer need nothing of the kind. The architecture is the
package's own (model.py): Embedding(20000, 50) → Bidirectional(LSTM(50, return_sequences)) →
GlobalMaxPooling1D → Dense(50, relu) → Dense(6, sigmoid), on token ids cut to the last 100 and pre-padded
with 0 (Keras `pad_sequences` defaults; no masking, so padding runs through the LSTM as in Keras).
The tokenizer is a pickled Keras `Tokenizer`: it is read with an unpickler that builds only plain
containers, so the pickle can run no code.
"""

from __future__ import annotations

import collections
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.core import assets
from bench.core.errors import BenchError
from bench.core.plugins import SCORERS
from bench.tasks.scorers import ScorerSettings, ToxicityScorer

LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
MAX_LEN = 100
ASSET = "jigsaw-lstm"


class KerasTokenizerState:
    """Stand-in for keras.Tokenizer: receives the pickled attribute dict and nothing else."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


class _ContainersOnly(pickle.Unpickler):
    ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("collections", "defaultdict"): collections.defaultdict,
        ("builtins", "int"): int,  # defaultdict(int)'s factory
        ("builtins", "list"): list,
        ("keras.src.legacy.preprocessing.text", "Tokenizer"): KerasTokenizerState,
        ("keras.preprocessing.text", "Tokenizer"): KerasTokenizerState,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a tokenizer pickle") from None


class KerasWordTokenizer:
    """`Tokenizer.texts_to_sequences` + `pad_sequences(maxlen=100)` with Keras's defaults."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            state = _ContainersOnly(handle).load()
        if not isinstance(state, KerasTokenizerState):
            raise BenchError(f"{path} is not a pickled Keras Tokenizer")
        self.word_index: dict[str, int] = dict(state.word_index)
        self.num_words: int | None = state.num_words
        self.lower: bool = state.lower
        self.split: str = state.split
        self.oov_index = self.word_index.get(state.oov_token) if state.oov_token else None
        self._filter_table = str.maketrans({c: state.split for c in state.filters})

    def ids(self, text: str) -> list[int]:
        if self.lower:
            text = text.lower()
        out = []
        for word in text.translate(self._filter_table).split(self.split):
            if not word:
                continue
            index = self.word_index.get(word)
            if index is not None and (self.num_words is None or index < self.num_words):
                out.append(index)
            elif self.oov_index is not None:
                out.append(self.oov_index)
        return out

    def batch(self, texts: Sequence[str], max_len: int = MAX_LEN) -> torch.Tensor:
        rows = torch.zeros(len(texts), max_len, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = self.ids(text)[-max_len:]  # truncating="pre": keep the end
            if ids:
                rows[i, max_len - len(ids):] = torch.tensor(ids)  # padding="pre"
        return rows


class JigsawBiLSTM(nn.Module):
    def __init__(self, vocab: int = 20000, dim: int = 50, hidden: int = 50, dense: int = 50) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(2 * hidden, dense)
        self.out = nn.Linear(dense, len(LABELS))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(self.embedding(ids))
        pooled = states.max(dim=1).values
        return torch.sigmoid(self.out(torch.relu(self.dense(pooled))))

    @classmethod
    def from_keras_h5(cls, path: Path) -> JigsawBiLSTM:
        import h5py

        def var(f, layer: str, i: int) -> torch.Tensor:
            return torch.from_numpy(np.asarray(f[f"layers/{layer}/vars/{i}"], dtype=np.float32))

        with h5py.File(path, "r") as f:
            embedding = var(f, "embedding", 0)
            model = cls(vocab=embedding.shape[0], dim=embedding.shape[1])
            with torch.no_grad():
                model.embedding.weight.copy_(embedding)
                # Keras LSTM: kernel (in, 4h), recurrent kernel (h, 4h), one bias; gates i, f, c, o — the
                # same order as PyTorch's i, f, g, o. PyTorch's second bias stays 0.
                for keras_name, suffix in (("forward_layer", ""), ("backward_layer", "_reverse")):
                    base = f"bidirectional/{keras_name}/cell"
                    getattr(model.lstm, f"weight_ih_l0{suffix}").copy_(var(f, base, 0).T)
                    getattr(model.lstm, f"weight_hh_l0{suffix}").copy_(var(f, base, 1).T)
                    getattr(model.lstm, f"bias_ih_l0{suffix}").copy_(var(f, base, 2))
                    getattr(model.lstm, f"bias_hh_l0{suffix}").zero_()
                for keras_name, layer in (("dense", model.dense), ("dense_1", model.out)):
                    layer.weight.copy_(var(f, keras_name, 0).T)  # Keras Dense kernel is (in, out)
                    layer.bias.copy_(var(f, keras_name, 1))
        return model.eval()


@SCORERS.register("jigsaw-lstm")
class JigsawLstmScorer(ToxicityScorer):
    """Jigsaw BiLSTM (toxic-comment-classifier 0.3.0) in PyTorch; the offline default."""

    version = "toxic-comment-classifier==0.3.0"
    description = "Keras BiLSTM trained on Jigsaw toxic comments, run in PyTorch (offline default)"

    def __init__(self, settings: ScorerSettings) -> None:
        super().__init__(settings)
        folder = Path(settings.checkpoint) if settings.checkpoint else assets.require(ASSET, kind="data")
        self.folder = folder
        self.tokenizer = KerasWordTokenizer(folder / "tokenizer.pickle")
        self.model = JigsawBiLSTM.from_keras_h5(folder / "model.weights.h5").to(settings.device)

    @torch.no_grad()
    def labels(self, texts: Sequence[str]) -> np.ndarray:
        """All six Jigsaw labels, [len(texts), 6]."""
        out = []
        for start in range(0, len(texts), self.settings.batch_size):
            ids = self.tokenizer.batch(texts[start:start + self.settings.batch_size]).to(self.settings.device)
            out.append(self.model(ids).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(LABELS)), dtype=np.float32)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        # The 'toxic' label, as Detoxify's 'toxicity'. (The package's own predict() averages all six.)
        return self.labels(texts)[:, 0]

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "label": "toxic", "weights": str(self.folder)}
