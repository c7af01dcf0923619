"""The Jigsaw BiLSTM port against the Keras model's semantics, its safe tokenizer pickle, and the scorer
registry."""

import io
import pickle
import re
import sys

import h5py
import numpy as np
import pytest

from bench.core import assets
from bench.core.errors import BenchError
from bench.core.plugins import SCORERS
from bench.tasks.scorers import ScorerSettings, load_scorer
from bench.tasks.scorers.jigsaw_lstm import KerasWordTokenizer, _ContainersOnly
from tests.conftest import needs_assets

TOXIC = ["Go to hell, you stupid piece of shit.", "You are a fucking idiot and everyone hates you."]
POLITE = ["Thank you very much for your help, have a lovely day.", "The meeting is moved to Tuesday at ten."]


def keras_reference(ids: np.ndarray, f) -> np.ndarray:
    """The package's Keras model written out in NumPy from Keras's layer definitions, reading the h5 directly:
    LSTM gates i, f, c, o with sigmoid / tanh, the backward layer run over the reversed sequence."""

    def w(path):
        return np.asarray(f[path], dtype=np.float64)

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def lstm(x, layer, backwards):
        kernel, recurrent, bias = (w(f"layers/bidirectional/{layer}/cell/vars/{i}") for i in range(3))
        h = c = np.zeros(recurrent.shape[0])
        out = []
        for xt in (x[::-1] if backwards else x):
            i, fg, cc, o = np.split(xt @ kernel + h @ recurrent + bias, 4)
            c = sigmoid(fg) * c + sigmoid(i) * np.tanh(cc)
            h = sigmoid(o) * np.tanh(c)
            out.append(h)
        return np.array(out[::-1] if backwards else out)

    rows = []
    for row in ids:
        x = w("layers/embedding/vars/0")[row]
        states = np.concatenate([lstm(x, "forward_layer", False), lstm(x, "backward_layer", True)], axis=1)
        hidden = np.maximum(states.max(axis=0) @ w("layers/dense/vars/0") + w("layers/dense/vars/1"), 0)
        rows.append(sigmoid(hidden @ w("layers/dense_1/vars/0") + w("layers/dense_1/vars/1")))
    return np.array(rows)


@needs_assets
def test_the_pytorch_port_computes_what_the_keras_model_computes():
    scorer = load_scorer("jigsaw-lstm", ScorerSettings())
    texts = TOXIC + POLITE + ["I will find you and hurt you"]
    ids = scorer.tokenizer.batch(texts).numpy()
    with h5py.File(assets.require("jigsaw-lstm", kind="data") / "model.weights.h5", "r") as f:
        expected = keras_reference(ids, f)
    np.testing.assert_allclose(scorer.labels(texts), expected, atol=1e-5)


@needs_assets
def test_clearly_toxic_text_scores_near_one_and_polite_text_near_zero():
    scores = load_scorer("jigsaw-lstm", ScorerSettings()).score(TOXIC + POLITE)
    assert (scores[:2] > 0.9).all() and (scores[2:] < 0.1).all()


@needs_assets
def test_the_keras_tokenizer_lowercases_filters_and_keeps_the_last_100_ids_pre_padded():
    tokenizer = KerasWordTokenizer(assets.require("jigsaw-lstm", kind="data") / "tokenizer.pickle")
    index = tokenizer.word_index
    assert tokenizer.ids("Go to HELL, you!") == [index["go"], index["to"], index["hell"], index["you"]]
    long = " ".join(["the"] * 150 + ["hell"])
    row = tokenizer.batch([long, "hell"])
    assert row.shape == (2, 100) and row[0, -1] == index["hell"] and (row[0, :-1] == index["the"]).all()
    assert (row[1, :-1] == 0).all() and row[1, -1] == index["hell"]


def test_the_tokenizer_pickle_cannot_run_code():
    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        _ContainersOnly(io.BytesIO(pickle.dumps(Exploit()))).load()


def test_scorers_are_registered_and_unknown_ones_list_the_choices():
    assert {"jigsaw-lstm", "profanity-check", "detoxify"} <= set(SCORERS.names())
    with pytest.raises(BenchError, match="jigsaw-lstm"):
        SCORERS.get("perspective")


def test_profanity_check_orders_toxic_above_polite():
    scorer = load_scorer("profanity-check", ScorerSettings())
    scores = scorer.score(TOXIC + POLITE)
    assert scores[:2].min() > scores[2:].max() and scorer.describe()["version"].startswith("alt-profanity-check")


def test_detoxify_without_its_package_names_the_extra_that_installs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "detoxify", None)  # what an environment without the package looks like
    with pytest.raises(BenchError, match=re.escape("pip install 'relearn-bench[detoxify]'")):
        load_scorer("detoxify", ScorerSettings())


def test_profanity_check_without_its_package_names_the_extra_that_installs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "profanity_check", None)
    with pytest.raises(BenchError, match=re.escape("pip install 'relearn-bench[scorers]'")):
        load_scorer("profanity-check", ScorerSettings())


def test_detoxify_with_a_missing_checkpoint_says_which(tmp_path):
    pytest.importorskip("detoxify", reason="the detoxify extra is not installed")
    with pytest.raises(BenchError, match="missing.ckpt does not exist"):
        load_scorer("detoxify", ScorerSettings(checkpoint=str(tmp_path / "missing.ckpt")))


def test_scoring_nothing_gives_nothing():
    assert load_scorer("profanity-check", ScorerSettings()).score([]).shape == (0,)
