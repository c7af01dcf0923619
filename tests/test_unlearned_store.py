"""Runs that differ only in the attack unlearn once: the second loads what the first's method produced (its
mask, or its edited weights bit for bit), records what the unlearning cost where it ran, and scores exactly as
if it had unlearned itself. The store keeps within its size limit, least recently used out first, and can be
turned off."""

import pytest
import torch

from bench.api.method import UnlearningResult
from bench.core.errors import BenchError
from bench.harness import unlearned_store
from bench.harness.config import build_config
from bench.harness.protocol import run
from bench.harness.unlearned_store import unlearn_once
from bench.neurons.masks import UnitMask
from tests.conftest import tiny_model


def tiny_config(model, data, **cli):
    values = {"model": str(model), "data": str(data), "finetune_epochs": "2", "finetune_lr": "3e-3",
              "relearn_steps": "4", "relearn_checkpoints": "2", "batch_size": "8", **cli}
    return build_config(cli_values=values)


def editing(model, calls):
    """An unlearning that edits every weight (and counts how often it ran)."""
    def unlearn():
        calls.append(1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.01)
        return UnlearningResult(edited=True, info={"loss": 1.5}, budget={"steps": 3})
    return unlearn


def test_a_second_run_with_the_same_key_loads_the_edited_weights_bit_for_bit_instead_of_unlearning():
    calls = []
    first_model, second_model = tiny_model("llama"), tiny_model("llama")
    first = unlearn_once("k1", "run-a", first_model, editing(first_model, calls))
    second = unlearn_once("k1", "run-b", second_model, editing(second_model, calls))
    assert len(calls) == 1 and first.reused_from is None and second.reused_from == "run-a"
    assert second.result.info == {"loss": 1.5} and second.result.budget == {"steps": 3} and second.result.edited
    assert second.seconds == pytest.approx(first.seconds, abs=1e-3)  # what the unlearning cost where it ran
    for (name, a), b in zip(first_model.state_dict().items(), second_model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_mask_and_its_ranking_come_back_as_the_method_made_them():
    mask = UnitMask("mlp", torch.rand(2, 16) < 0.3)
    scores = torch.rand(2, 16)
    made = lambda: UnlearningResult(mask=mask, k_requested=12, scores=scores)  # noqa: E731
    unlearn_once("k2", "run-a", tiny_model("llama"), made)
    loaded = unlearn_once("k2", "run-b", tiny_model("llama"), lambda: pytest.fail("unlearned twice"))
    assert loaded.result.mask.content_hash() == mask.content_hash() and loaded.result.k_requested == 12
    assert torch.equal(loaded.result.scores, scores) and loaded.result.kind == "mask"


def test_the_store_keeps_within_its_limit_and_drops_the_least_recently_used(monkeypatch):
    model = tiny_model("llama")
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    monkeypatch.setenv("BENCH_UNLEARNED_GB", str(2.5 * size / 1e9))  # room for two
    calls = []
    for key in ("a", "b", "c"):
        unlearn_once(key, key, model, editing(model, calls))
    assert len(calls) == 3
    unlearn_once("b", "b2", model, editing(model, calls))  # b kept; c was kept last
    assert len(calls) == 3
    unlearn_once("a", "a2", model, editing(model, calls))  # a was the least recently used: dropped, unlearned again
    assert len(calls) == 4


def test_a_limit_of_zero_turns_the_store_off_and_a_bad_limit_is_refused(monkeypatch):
    model, calls = tiny_model("llama"), []
    monkeypatch.setenv("BENCH_UNLEARNED_GB", "0")
    unlearn_once("k", "a", model, editing(model, calls))
    unlearn_once("k", "b", model, editing(model, calls))
    assert len(calls) == 2
    monkeypatch.setenv("BENCH_UNLEARNED_GB", "lots")
    with pytest.raises(BenchError, match="BENCH_UNLEARNED_GB must be a number"):
        unlearned_store.store_limit_bytes()


def test_runs_that_differ_only_in_the_attack_unlearn_once_and_score_as_if_each_had(tiny_bert_folder, tiny_conll):
    options = {"steps": "3", "lr": "1e-3"}
    finetuned = run(tiny_config(tiny_bert_folder, tiny_conll, method="grad-ascent", method_options=options))
    quantized = run(tiny_config(tiny_bert_folder, tiny_conll, method="grad-ascent", method_options=options,
                                attack="quantize"))
    assert "unlearn_first" not in finetuned.timings
    assert quantized.timings["unlearn_first"] == pytest.approx(finetuned.timings["unlearn"], abs=0.02)
    assert quantized.stage("unlearned")[0].scores == finetuned.stage("unlearned")[0].scores
    assert quantized.method.info == finetuned.method.info and quantized.unlearning == finetuned.unlearning


def test_a_fresh_run_unlearns_again_and_keeps_its_own_result():
    calls, model = [], tiny_model("llama")
    unlearn_once("k", "a", model, editing(model, calls))
    again = unlearn_once("k", "b", model, editing(model, calls), fresh=True)
    assert len(calls) == 2 and again.reused_from is None
    assert unlearn_once("k", "c", model, editing(model, calls)).reused_from == "b"
