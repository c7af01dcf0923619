"""Activation capture on the default encoder: streaming statistics and the probeless ranking against a plain
forward pass (the other hot paths, as ratios to bare loops: `test_hot_paths.py`).

Targets checked here (not in the test suite, where timing is noise): streaming per-label statistics with a
top-k over every MLP unit, and the probeless ranking built on them, cost at most 1.5x a plain forward pass
over the same tokens.
"""

from __future__ import annotations

import pytest
import torch

from bench.api.data import ConceptData, Examples
from bench.api.method import UnlearnContext
from bench.api.task import TaskSettings
from bench.core import assets
from bench.core.plugins import METHODS, TASKS
from bench.models.loading import load_model, quiet_transformers
from bench.neurons.activations import collect_unit_statistics
from bench.neurons.units import unit_space

pytestmark = pytest.mark.skipif(
    any(assets.locate(a) is None for a in assets.catalog()), reason="offline assets not installed: bench assets install"
)


@pytest.fixture(scope="module")
def setup():
    quiet_transformers()
    task_cls = TASKS.get("ner")
    task = task_cls(TaskSettings(None, None, 0, None, task_cls.Options()))
    loaded = load_model("all-MiniLM-L6-v2", task.head())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = loaded.model.to(device).eval()
    full = task.concept_data(loaded.tokenizer)
    concept = ConceptData(Examples(full.data.examples[:512], full.data.collate), full.label_names)
    batches = list(concept.data.loader(64))
    tokens = sum(int((b["labels"] != -100).sum()) for b in batches)
    return task, loaded.tokenizer, model, batches, tokens, device, concept


def forward_all(model, batches, device):
    with torch.no_grad():
        for b in batches:
            model(input_ids=b["input_ids"].to(device), attention_mask=b["attention_mask"].to(device))
    if device.type == "cuda":
        torch.cuda.synchronize()


def test_plain_forward(benchmark, setup):
    task, tokenizer, model, batches, tokens, device, concept = setup
    benchmark(forward_all, model, batches, device)
    benchmark.extra_info["tokens_per_s"] = tokens / benchmark.stats["mean"]


def test_streaming_unit_statistics(benchmark, setup):
    task, tokenizer, model, batches, tokens, device, concept = setup
    space = unit_space(model, "mlp")
    benchmark(collect_unit_statistics, model, space, batches, n_labels=2, top_k=5)
    benchmark.extra_info["tokens_per_s"] = tokens / benchmark.stats["mean"]
    import time

    start = time.perf_counter()
    forward_all(model, batches, device)
    forward = time.perf_counter() - start
    assert benchmark.stats["mean"] < 1.5 * forward + 0.05, "capture costs much more than the forward pass itself"


def test_probeless_ranking(benchmark, setup):
    task, tokenizer, model, batches, tokens, device, concept = setup
    method = METHODS.get("concept-neurons")()

    def fresh_context():  # the context memoises the base statistics: each round must stream them anew
        return (model, UnlearnContext(unit_space(model, "mlp"), concept, 0.5, None, 0, 64, device)), {}

    benchmark.pedantic(method.score_units, setup=fresh_context, rounds=5, iterations=1)
    benchmark.extra_info["tokens_per_s"] = tokens / benchmark.stats["mean"]
    import time

    start = time.perf_counter()
    forward_all(model, batches, device)
    assert benchmark.stats["mean"] < 1.5 * (time.perf_counter() - start) + 0.05
