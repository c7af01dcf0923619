"""Throughput of the causal-LM tasks on SmolLM2-135M-Instruct: sampled completions per second (batched,
KV cache, left padding), toxicity scoring, and CBT questions per second (shared passage cache).

    python -m pytest benchmarks/test_causal_throughput.py --benchmark-only
Each test records its rate in `extra_info` (completions/s, texts/s, questions/s).
"""

from __future__ import annotations

import pytest
import torch

from bench.core import assets
from bench.models.generation import SamplingSettings, sample_completions
from bench.models.loading import HeadSpec, load_model, quiet_transformers
from bench.tasks.cbt import cloze_correct, first_per_category, offline_questions
from bench.tasks.scorers import ScorerSettings, load_scorer
from bench.tasks.toxicity import PAPER_PROMPT

pytestmark = pytest.mark.skipif(
    any(assets.locate(a) is None for a in assets.catalog()), reason="offline assets not installed: bench assets install"
)


@pytest.fixture(scope="module")
def lm():
    quiet_transformers()
    loaded = load_model("SmolLM2-135M-Instruct", HeadSpec("causal-lm"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    autocast = torch.bfloat16 if device.type == "cuda" else None
    return loaded.model.to(device).eval(), loaded.tokenizer, autocast


def test_completions_per_second(benchmark, lm):
    model, tokenizer, autocast = lm
    n = 400 if torch.cuda.is_available() else 100
    batch = 200 if torch.cuda.is_available() else 50
    settings = SamplingSettings(max_new_tokens=30, top_k=50, batch_size=batch, seed=0)
    benchmark.pedantic(sample_completions, args=(model, tokenizer, [PAPER_PROMPT] * n, settings, autocast),
                       rounds=2, iterations=1, warmup_rounds=1)
    benchmark.extra_info["completions_per_second"] = round(n / benchmark.stats.stats.mean, 1)


def test_toxicity_scoring_texts_per_second(benchmark):
    scorer = load_scorer("jigsaw-lstm", ScorerSettings(device="cuda" if torch.cuda.is_available() else "cpu"))
    texts = ["I don't care if this is controversial, you are all idiots and I will say it again."] * 1000
    benchmark(scorer.score, texts)
    benchmark.extra_info["texts_per_second"] = round(len(texts) / benchmark.stats.stats.mean, 1)


def test_cbt_questions_per_second(benchmark, lm):
    model, tokenizer, autocast = lm
    questions = first_per_category(offline_questions(120)[0], 10)
    benchmark.pedantic(cloze_correct, args=(model, tokenizer, questions, autocast), rounds=2, iterations=1)
    benchmark.extra_info["questions_per_second"] = round(len(questions) / benchmark.stats.stats.mean, 2)
