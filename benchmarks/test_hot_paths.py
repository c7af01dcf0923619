"""Every hot path as a ratio: the project's code against a bare PyTorch / `transformers` loop over the same
inputs (same batches, dtype and device), and its executed FLOP/s against the machine's matmul rate, all
measured in one run.

    python -m pytest benchmarks/test_hot_paths.py --benchmark-only

Each path is a benchmark group with two entries, `project` and `bare`; the ratio table is printed at the end
and written to `benchmarks/results/<device>.json`, from which `python tools/performance_table.py` writes the
README's performance section.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from bench.api.task import EvalSettings, TaskSettings
from bench.core import assets
from bench.core.plugins import TASKS
from bench.models.generation import SamplingSettings, left_padded, sample_completions
from bench.models.loading import HeadSpec, load_model, quiet_transformers
from bench.models.training import TrainSettings, to_device, train
from bench.neurons.activations import collect_unit_statistics
from bench.neurons.units import unit_space
from bench.tasks.causal_lm import IGNORE, chunk_ids, pad_collate, window_nll
from bench.tasks.cbt import choice_item, cloze_correct, first_per_category
from bench.tasks.scorers import ScorerSettings, load_scorer
from bench.tasks.text_sources import lee_documents
from bench.tasks.toxicity import PAPER_PROMPT
from benchmarks.ratios import count_flops

pytestmark = pytest.mark.skipif(
    any(assets.locate(a) is None for a in assets.catalog()), reason="offline assets not installed: bench assets install"
)
CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
AUTOCAST = torch.bfloat16 if CUDA else None  # the harness's choice: bf16 autocast on CUDA, float32 on a CPU
IMPLS = ("project", "bare")


def autocast():
    return torch.autocast("cuda", dtype=AUTOCAST) if AUTOCAST else torch.autocast("cpu", enabled=False)


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


def measure(benchmark, ratios, name: str, unit: str, items: int, impl: str, fn: Callable[[], object],
            rounds: int, why: str = "", setup: Callable[[], None] | None = None, flops: bool = True) -> None:
    """Count `fn`'s FLOPs once (which also warms it up), then time it with pytest-benchmark. With
    `flops=False` (work torch's counter cannot see) the call only warms up and no share is reported."""
    benchmark.group = name
    if setup:
        setup()
    if flops:
        counted = count_flops(fn)
    else:
        fn()
        counted = 0

    def timed():
        fn()
        sync()

    kwargs = {"setup": setup} if setup else {}
    benchmark.pedantic(timed, rounds=rounds, iterations=1, **kwargs)
    ratios.add(name, unit, items, impl, benchmark.stats.stats, counted, why)
    benchmark.extra_info[f"{unit}_per_s"] = round(items / benchmark.stats.stats.min, 2)


# -- models and data (loaded once) ---------------------------------------------------------------------
def _task(name: str, **options):
    cls = TASKS.get(name)
    return cls(TaskSettings(None, None, 0, None, cls.Options(**options)))


@pytest.fixture(scope="module")
def ner():
    quiet_transformers()
    task = _task("ner")
    loaded = load_model("all-MiniLM-L6-v2", task.head())
    return task, loaded.model.to(DEVICE), loaded.tokenizer


@pytest.fixture(scope="module")
def lm():
    quiet_transformers()
    loaded = load_model("SmolLM2-135M-Instruct", HeadSpec("causal-lm"))
    return loaded.model.to(DEVICE), loaded.tokenizer


@pytest.fixture(scope="module")
def cbt():
    return _task("cbt", eval_per_category=3 if not CUDA else 30, retain_per_category=3 if not CUDA else 30)


# -- training steps ------------------------------------------------------------------------------------
def _training(benchmark, ratios, name, impl, model, data, batch_size, steps, rounds):
    settings = TrainSettings(lr=1e-5, weight_decay=0.01, batch_size=batch_size, epochs=None, warmup_ratio=0.0,
                             seed=0, max_steps=steps, schedule="constant", warmup_steps=0)
    state = {name: t.detach().clone() for name, t in model.state_dict().items()}

    def restore():  # every round trains the same weights on the same batches
        model.load_state_dict(state)

    if impl == "project":
        def run():
            train(model, data, settings, autocast_dtype=AUTOCAST)
    else:
        def run():
            # The plain loop a user would write: AdamW with torch's default implementation, the same
            # batches in the same order, clipping, no schedule object, no callbacks.
            optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
            model.train()
            for step, batch in enumerate(data.loader(batch_size, shuffle=True, seed=settings.seed)):
                if step == steps:
                    break
                batch = {k: v.to(DEVICE) for k, v in batch.items()}
                with autocast():
                    loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            model.eval()

    measure(benchmark, ratios, name, "steps", steps, impl, run, rounds, setup=restore,
            why="fused AdamW (one kernel for every parameter's update) where the bare loop uses the default")
    restore()


@pytest.mark.parametrize("impl", IMPLS)
def test_training_step_ner_encoder(benchmark, ratios, ner, impl):
    task, model, tokenizer = ner
    data = task.relearn_data(tokenizer)
    _training(benchmark, ratios, "train step (NER encoder)", impl, model, data, 8, 8 if not CUDA else 32, 3)


@pytest.mark.parametrize("impl", IMPLS)
def test_training_step_causal_lm(benchmark, ratios, lm, cbt, impl):
    model, tokenizer = lm
    data = cbt.relearn_data(tokenizer)
    _training(benchmark, ratios, "train step (causal LM)", impl, model, data, 8, 2 if not CUDA else 16, 2)


# -- evaluation passes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_ner_evaluation(benchmark, ratios, ner, impl):
    task, model, tokenizer = ner
    model.eval()
    settings = EvalSettings(batch_size=64, autocast_dtype=AUTOCAST)
    if impl == "project":
        def run():
            task.evaluate(model, tokenizer, settings)
    else:
        encoded = task._encode(tokenizer, task.eval_sentences, lambda s, w: 0, every_subword=False)
        collate = task._collate(tokenizer)
        batches = [collate(encoded[i:i + 64]) for i in range(0, len(encoded), 64)]  # in file order

        @torch.no_grad()
        def run():
            for batch in batches:
                with autocast():
                    logits = model(input_ids=batch["input_ids"].to(DEVICE),
                                   attention_mask=batch["attention_mask"].to(DEVICE)).logits
                logits.argmax(-1).cpu()
    measure(benchmark, ratios, "evaluation (NER)", "sentences", len(task.eval_sentences), impl, run, 3,
            why="batches of sentences of similar length (less padding); seqeval scoring is inside the project's time")


@pytest.mark.parametrize("impl", IMPLS)
def test_cbt_evaluation(benchmark, ratios, lm, cbt, impl):
    model, tokenizer = lm
    model.eval()
    questions = first_per_category(cbt.eval_questions, 1 if not CUDA else 8)
    if impl == "project":
        def run():
            cloze_correct(model, tokenizer, questions, AUTOCAST)
    else:
        @torch.no_grad()
        def run():
            # The plain way: each option's full text (passage + filled-in query) in one right-padded batch,
            # its log-likelihood summed over the option's tokens.
            for question in questions:
                item = choice_item(question)
                context = tokenizer(item.shared + item.prefix, add_special_tokens=False)["input_ids"]
                rows = [context + tokenizer(o, add_special_tokens=False)["input_ids"] for o in item.options]
                batch = pad_collate(tokenizer.pad_token_id)([{"input_ids": r} for r in rows])
                ids = batch["input_ids"].to(DEVICE)
                with autocast():
                    logits = model(input_ids=ids, attention_mask=batch["attention_mask"].to(DEVICE)).logits
                logprobs = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None])[..., 0]
                [float(logprobs[r, len(context) - 1:len(row) - 1].sum()) for r, row in enumerate(rows)]
    measure(benchmark, ratios, "evaluation (CBT cloze)", "questions", len(questions), impl, run, 2,
            why="the passage is run once and its KV cache shared by the ten options; the vocabulary projection "
                "only where a likelihood is read")


@pytest.mark.parametrize("impl", IMPLS)
def test_perplexity(benchmark, ratios, lm, cbt, impl):
    model, tokenizer = lm
    model.eval()
    texts = lee_documents()[:8 if not CUDA else 64]  # the causal tasks' perplexity documents
    windows = sum(1 for _ in chunk_ids(tokenizer, texts, 128))
    if impl == "project":
        def run():
            window_nll(model, tokenizer, texts, 128, 64, AUTOCAST)
    else:
        chunks = chunk_ids(tokenizer, texts, 128)  # in text order
        collate = pad_collate(tokenizer.pad_token_id)

        @torch.no_grad()
        def run():
            for start in range(0, len(chunks), 64):
                batch = collate([{"input_ids": c} for c in chunks[start:start + 64]])
                ids, mask = batch["input_ids"].to(DEVICE), batch["attention_mask"].to(DEVICE)
                with autocast():
                    logits = model(input_ids=ids, attention_mask=mask).logits
                targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, IGNORE)
                nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets,
                                            ignore_index=IGNORE, reduction="none").sum(1).tolist()
    measure(benchmark, ratios, "evaluation (perplexity)", "windows", windows, impl, run, 3,
            why="windows sorted by length (the last window of each text is short)")


# -- sampling, statistics, scoring ---------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_sampling_completions(benchmark, ratios, lm, impl):
    model, tokenizer = lm
    model.eval()
    n = 50 if not CUDA else 400
    settings = SamplingSettings(max_new_tokens=30, top_k=50, batch_size=50 if not CUDA else 200, seed=0)
    prompts = [PAPER_PROMPT] * n
    if impl == "project":
        def run():
            sample_completions(model, tokenizer, prompts, settings, AUTOCAST)
    else:
        @torch.no_grad()
        def run():
            for number, start in enumerate(range(0, n, settings.batch_size)):
                batch = left_padded(tokenizer, prompts[start:start + settings.batch_size], DEVICE)
                # The project's seed per batch: the same draws give the same tokens, so the same work (a batch
                # stops early when every row has ended, so other draws would time another amount of decoding).
                torch.manual_seed(settings.seed * 1_000_003 + number)
                with autocast():
                    out = model.generate(**batch, do_sample=True, top_k=settings.top_k,
                                         max_new_tokens=settings.max_new_tokens, pad_token_id=tokenizer.pad_token_id)
                tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    measure(benchmark, ratios, "sampling completions", "completions", n, impl, run, 2)


@pytest.mark.parametrize("impl", IMPLS)
def test_unit_statistics(benchmark, ratios, lm, cbt, impl):
    model, tokenizer = lm
    model.eval()
    concept = cbt.concept_data(tokenizer)
    batches = [to_device(b, DEVICE) for b in concept.data.loader(32)][:4 if not CUDA else 32]
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    positions = sum(b["attention_mask"].numel() for b in batches)
    padding = 1 - tokens / positions
    space = unit_space(model, "mlp")
    if impl == "project":
        def run():
            collect_unit_statistics(model, space, batches, n_labels=len(concept.label_names), top_k=5)
    else:
        @torch.no_grad()
        def run():
            # The forward pass alone: what capturing every MLP unit's statistics adds to.
            for batch in batches:
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    measure(benchmark, ratios, "unit statistics (causal LM)", "tokens", tokens, impl, run, 3,
            why="the bare loop is the forward pass alone; the project also folds every MLP unit into per-label "
                "sums, sums of squares and a top-5, on the device. Both run the concept data in file order, padded "
                f"to each batch's longest text: {padding:.0%} of the positions are padding")


@pytest.mark.parametrize("impl", IMPLS)
def test_toxicity_scorer(benchmark, ratios, impl):
    scorer = load_scorer("jigsaw-lstm", ScorerSettings(device=DEVICE.type))
    texts = [f"{PAPER_PROMPT} completion number {i}: you are all idiots and I will say it again." for i in range(1000)]
    if impl == "project":
        def run():
            scorer.score(texts)
    else:
        @torch.no_grad()
        def run():  # the same word tokenizer and network in a plain loop
            for start in range(0, len(texts), 256):
                scorer.model(scorer.tokenizer.batch(texts[start:start + 256]).to(DEVICE))[:, 0].cpu()
    measure(benchmark, ratios, "toxicity scorer", "texts", len(texts), impl, run, 5, flops=False,
            why="no share of the matmul rate: torch's FLOP counter does not see the BiLSTM's recurrences")
