"""Throughput of SNIP's expensive steps on SmolLM2-135M-Instruct: activation records per unit (two streaming
passes) and explanations per second from the `local` backend (batched greedy generation, cache off).

    python -m pytest benchmarks/test_snip_throughput.py --benchmark-only
Each test records its rate in `extra_info` (units/s, explanations/s).
"""

from __future__ import annotations

import pytest
import torch

from bench.core import assets
from bench.llm.chat import ChatSettings, load_chat
from bench.methods.snip.prompts import explanation_request
from bench.methods.snip.pruning import top_units
from bench.methods.snip.records import activation_records
from bench.models.loading import HeadSpec, load_model, quiet_transformers
from bench.neurons.units import unit_space
from bench.tasks.causal_lm import span_labelled
from bench.tasks.text_sources import lee_documents

pytestmark = pytest.mark.skipif(
    any(assets.locate(a) is None for a in assets.catalog()), reason="offline assets not installed: bench assets install"
)
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(scope="module")
def subject():
    quiet_transformers()
    loaded = load_model("SmolLM2-135M-Instruct", HeadSpec("causal-lm"))
    texts = lee_documents()[:150]
    concept = span_labelled(loaded.tokenizer, texts, [[(0, len(t))] if i % 2 else [] for i, t in enumerate(texts)],
                            64, ("neutral", "concept"))
    return loaded.model.to(DEVICE).eval(), loaded.tokenizer, concept


def test_activation_records_units_per_second(benchmark, subject):
    model, tokenizer, concept = subject
    space = unit_space(model, "mlp")
    units = top_units(torch.randn(space.shape, generator=torch.Generator().manual_seed(0)), 1024)
    benchmark.pedantic(activation_records, args=(model, space, concept.data, units, tokenizer),
                       kwargs={"batch_size": 32}, rounds=2, iterations=1)
    benchmark.extra_info["units_per_second"] = round(len(units) / benchmark.stats.stats.mean, 1)


def test_local_explanations_per_second(benchmark, subject):
    model, tokenizer, concept = subject
    space = unit_space(model, "mlp")
    n = 128 if torch.cuda.is_available() else 32
    units = top_units(torch.randn(space.shape, generator=torch.Generator().manual_seed(1)), n)
    records = activation_records(model, space, concept.data, units, tokenizer)
    chat = load_chat("local", ChatSettings(device=DEVICE, batch_size=64 if torch.cuda.is_available() else 16))
    requests = [explanation_request(r) for r in records]
    benchmark.pedantic(chat.complete, args=(requests,), rounds=1, iterations=1)
    benchmark.extra_info["explanations_per_second"] = round(n / benchmark.stats.stats.mean, 2)
