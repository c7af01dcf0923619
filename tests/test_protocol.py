"""The whole protocol on a tiny local BERT and synthetic CoNLL data: record, store, cache, resume."""

import json

import pytest
import torch

import bench.attacks.finetune as finetune
import bench.harness.caches as caches
import bench.harness.protocol as protocol
from bench.harness.config import build_config
from bench.harness.store import find, list_runs, run_folder
from bench.results.report import write_run_outputs


def tiny_config(model, data, **cli):
    values = {"model": str(model), "data": str(data), "finetune_epochs": "8", "finetune_lr": "3e-3",
              "relearn_steps": "20", "batch_size": "8", **cli}
    return build_config(cli_values=values)


@pytest.fixture
def training_calls(monkeypatch):
    calls = []
    real = caches.train

    def counting(*args, **kwargs):
        calls.append(kwargs.get("description"))
        return real(*args, **kwargs)

    monkeypatch.setattr(caches, "train", counting)  # the preparation
    monkeypatch.setattr(finetune, "train", counting)  # the attack
    return calls


def test_a_run_records_every_stage_and_summary(tiny_bert_folder, tiny_conll, training_calls):
    record = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, fraction="0.25"))
    assert training_calls == ["fine-tune (prepare)", "relearn"]
    stages = [(s.stage, s.step) for s in record.stages]
    assert stages == [("base", 0), ("unlearned", 0), ("relearn", 0), ("relearn", 4), ("relearn", 16), ("relearn", 20)]
    assert set(record.stages[0].scores) >= {"f1/geo-loc", "f1/person", "f1/company", "f1/overall"}
    assert record.task.concept == "geo-loc" and record.config["concept"] == "geo-loc"
    assert record.mask.k == 12 and record.mask.total == 48 and sum(record.mask.per_layer) == 12
    assert record.summary.target == "f1/geo-loc"
    assert record.summary.m_base > 0.5  # the tiny model did learn the task in preparation
    assert [step for step, _ in record.summary.recovery] == [0, 4, 16, 20]
    # device auto: the GPU where there is one (the whole suite passes on an H100 too), else the CPU
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert record.provenance.device["type"] == expected_device and record.provenance.batch_size == 8
    assert record.provenance.versions["torch"]
    # What was loaded and how: the tiny BERT folder has no task head, so the run drew a fresh one.
    assert (record.model.loaded.format, record.model.loaded.dtype, record.model.loaded.head) == (
        "safetensors", "float32", "fresh")
    folder = run_folder(record.run_id)
    assert json.loads((folder / "record.json").read_text())["run_id"] == record.run_id
    assert (folder / "mask.safetensors").exists() and (folder / "unit_scores.safetensors").exists()
    # The run records; the picture is a separate step (bench run and bench sweep take it).
    assert not (folder / "relearning.png").exists()
    assert write_run_outputs(record) == [folder / "relearning.png"]
    assert (folder / "relearning.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [r.run_id for r in list_runs()] == [record.run_id]
    assert find(record.run_id[:6]) == record


def test_the_same_run_is_not_computed_twice_and_prepared_models_are_shared(
    tiny_bert_folder, tiny_conll, training_calls
):
    first = protocol.run(tiny_config(tiny_bert_folder, tiny_conll))
    again = protocol.run(tiny_config(tiny_bert_folder, tiny_conll))
    assert again == first
    assert training_calls == ["fine-tune (prepare)", "relearn"]
    other_budget = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, k="5"))
    assert other_budget.run_id != first.run_id
    assert training_calls == ["fine-tune (prepare)", "relearn", "relearn"]  # fine-tuning came from the cache
    assert other_budget.stages[0].scores == first.stages[0].scores  # the same prepared base model
    assert other_budget.model.preparation == first.model.preparation


def test_the_base_model_is_evaluated_once_for_all_methods_of_a_seed(tiny_bert_folder, tiny_conll, monkeypatch,
                                                                   bench_home):
    evaluated = []
    real = caches.evaluate
    monkeypatch.setattr(caches, "evaluate", lambda setup, model, stage, *a, **kw: evaluated.append(stage) or real(setup, model, stage, *a, **kw))
    fresh = protocol.run(tiny_config(tiny_bert_folder, tiny_conll))
    assert evaluated.count("base") == 1
    again = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, method="none"))
    assert evaluated.count("base") == 1 and evaluated.count("unlearned") == 1
    assert again.stages[0] == fresh.stages[0]
    # `none` removes nothing: its unlearned model is the base model, whose scores it reuses (taking 0 s).
    assert again.stages[1].scores == again.stages[0].scores and again.stages[1].seconds == 0.0
    # Computed again (cache removed), the base scores and every later stage are the same as with the cache.
    for cached in (bench_home / "evaluations").iterdir():
        cached.unlink()
    recomputed = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, method="none"), force=True)
    assert evaluated.count("base") == 2
    assert [s.scores for s in recomputed.stages] == [s.scores for s in again.stages]
    protocol.run(tiny_config(tiny_bert_folder, tiny_conll, seed="1"))
    assert evaluated.count("base") == 3  # another seed, another prepared model


@pytest.mark.parametrize("task, finetuned, head, shared", [
    ("cbt", False, "kept", True),  # a pretrained causal LM scored by likelihood: one base evaluation for all seeds
    ("toxicity", False, "kept", False),  # its completions are sampled with the run's seed
    ("ner", True, "fresh", False),  # a seeded fine-tuning (and a head drawn with the seed)
    ("ner", False, "fresh", False),  # not fine-tuned, but the fresh head is drawn with the seed
    ("ner", False, "kept", False),  # its evaluation is not declared seed-free (Task.seed_free_evaluation)
])
def test_the_base_scores_are_shared_across_seeds_only_where_no_seed_reaches_them(task, finetuned, head, shared):
    from types import SimpleNamespace

    from bench.core.plugins import TASKS
    from bench.models.loading import LoadReport

    task_obj = object.__new__(TASKS.get(task))  # only its class is read
    setup = SimpleNamespace(task=task_obj, loaded=SimpleNamespace(report=LoadReport("safetensors", None, "float32", head)))
    assert caches.base_depends_on_seed(setup, {"finetuned": finetuned}) is not shared


def test_runs_that_differ_only_in_relearning_share_the_unlearned_evaluation(tiny_bert_folder, tiny_conll,
                                                                            monkeypatch, bench_home):
    evaluated = []
    real = caches.evaluate
    monkeypatch.setattr(caches, "evaluate", lambda setup, model, stage, *a, **kw: evaluated.append(stage) or real(setup, model, stage, *a, **kw))
    short = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, fraction="0.25", relearn_steps="4"))
    longer = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, fraction="0.25", relearn_lr="1e-3"))
    assert longer.run_id != short.run_id and evaluated.count("unlearned") == 1
    assert longer.stages[1] == short.stages[1]
    # Another budget is another unlearned model: evaluated anew.
    protocol.run(tiny_config(tiny_bert_folder, tiny_conll, fraction="0.5", relearn_steps="4"))
    assert evaluated.count("unlearned") == 2
    # Without the cache the same scores come back (the evaluation is deterministic given its key).
    for cached in (bench_home / "evaluations").glob("unlearned-*"):
        cached.unlink()
    again = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, fraction="0.25", relearn_lr="1e-3"), force=True)
    assert evaluated.count("unlearned") == 3 and again.stages[1].scores == longer.stages[1].scores


def test_the_concept_statistics_are_streamed_once_per_prepared_model(tiny_bert_folder, tiny_conll, monkeypatch,
                                                                     bench_home):
    import bench.api.method as method_api

    passes = []
    real = method_api.collect_unit_statistics
    monkeypatch.setattr(method_api, "collect_unit_statistics", lambda *a, **kw: passes.append(1) or real(*a, **kw))
    small = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, method="concept-neurons", fraction="0.1",
                                     relearn_steps="4"))
    large = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, method="concept-neurons", fraction="0.25",
                                     relearn_steps="4"))
    assert len(passes) == 1  # the second budget read the first run's statistics
    for cached in (bench_home / "statistics").glob("*.pt"):
        cached.unlink()
    again = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, method="concept-neurons", fraction="0.25",
                                     relearn_steps="4"), force=True)
    assert len(passes) == 2 and again.mask == large.mask and small.mask.k < large.mask.k
    protocol.run(tiny_config(tiny_bert_folder, tiny_conll, method="concept-neurons", fraction="0.1",
                             relearn_steps="4", seed="1"))
    assert len(passes) == 3  # another seed, another prepared model


def test_runs_are_reproducible_per_seed(tiny_bert_folder, tiny_conll):
    a = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, seed="3"))
    b = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, seed="3"), force=True)
    assert a.run_id == b.run_id
    assert [s.scores for s in a.stages] == [s.scores for s in b.stages]
    assert a.mask.hash == b.mask.hash
    c = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, seed="4"))
    assert c.mask.hash != a.mask.hash


def test_regrow_and_hidden_spaces_run_too(tiny_bert_folder, tiny_conll):
    regrow = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, mask_mode="regrow"))
    assert regrow.mask.mode == "regrow"
    hidden = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, unit_space="hidden", k="4"))
    assert hidden.mask.space == "hidden" and hidden.mask.total == 32


def test_a_task_that_asks_for_it_is_evaluated_before_its_preparation_too(tiny_bert_folder, tiny_conll, monkeypatch):
    from bench.tasks.ner import NerTask

    monkeypatch.setattr(NerTask, "evaluate_before_preparation", True)
    record = protocol.run(tiny_config(tiny_bert_folder, tiny_conll))
    before = record.model.preparation.scores_before
    assert set(before) == set(record.stages[0].scores)  # the same metrics, before and after fine-tuning
    assert before["f1/geo-loc"] < record.stages[0].scores["f1/geo-loc"]  # the preparation taught the task


def test_the_attack_and_its_version_are_in_the_run_id_and_a_new_version_is_run_again(tiny_bert_folder, tiny_conll,
                                                                                     monkeypatch):
    from bench.harness.resolution import identify_run

    cfg = tiny_config(tiny_bert_folder, tiny_conll, fraction="0.25", relearn_steps="4")
    first = protocol.run(cfg)
    assert first.config["attack"] == "finetune" and (first.attack.name, first.attack.version) == ("finetune", 1)
    monkeypatch.setattr(finetune.Finetune, "version", 2)  # the attack's code changed: its numbers may move
    changed = identify_run(cfg)[1]
    assert changed != first.run_id
    again = protocol.run(cfg)  # the store does not hand back the record of version 1
    assert again.run_id == changed and again.attack.version == 2
    assert [s.scores for s in again.stages] == [s.scores for s in first.stages]  # the same code, the same numbers
