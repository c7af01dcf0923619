"""The built-in attacks do what their names say: `retain-only` trains on data where the concept is never a
target (checked against the task's own tags, and the same check finds the concept in the relearning split), and
a run with it records the attack it ran; `quantize` rounds to at most 2^bits levels per group and moves an 8-bit
model little; `lora` leaves the base weights bit-identical; `in-context` changes no weight and is refused where
the task has no prompt; `unrelated` text holds none of the concept; the attacker's own bound marks checkpoints
that wrecked the model."""

import copy

import pytest
import torch

from bench.core.errors import BenchError
from bench.harness.config import build_config
from bench.harness.protocol import run
from bench.harness.resolution import resolve_run


def tiny_config(model, data, **cli):
    values = {"model": str(model), "data": str(data), "finetune_epochs": "2", "finetune_lr": "3e-3",
              "relearn_steps": "6", "relearn_checkpoints": "2", "batch_size": "8", "fraction": "0.25", **cli}
    return build_config(cli_values=values)


def concept_targets(setup, data) -> int:
    """Tokens of `data` whose training target is one of the concept's tags."""
    ids = {i for i, tag in enumerate(setup.task.tags) if tag != "O" and tag[2:] == setup.task.concept}
    return sum(int(label) in ids for example in data.examples for label in example["labels"])


def test_retain_only_trains_on_data_where_the_concept_is_never_a_target(tiny_bert_folder, tiny_conll):
    setup = resolve_run(tiny_config(tiny_bert_folder, tiny_conll, attack="retain-only"))
    tokenizer = setup.loaded.tokenizer
    retain, relearn = setup.task.retain_data(tokenizer), setup.task.relearn_data(tokenizer)
    assert len(retain) > 0 and concept_targets(setup, retain) == 0
    assert concept_targets(setup, relearn) > 0  # the check sees the concept where it is a target


def test_a_run_records_its_attack_and_what_it_trained_on(tiny_bert_folder, tiny_conll):
    record = run(tiny_config(tiny_bert_folder, tiny_conll, attack="retain-only"))
    assert record.config["attack"] == "retain-only" and record.attack.name == "retain-only"
    assert record.attack.version == 1 and record.attack.info["examples"] > 0
    assert [s.step for s in record.stage("relearn")] == [0, 2, 6]
    finetuned = run(tiny_config(tiny_bert_folder, tiny_conll))
    assert finetuned.run_id != record.run_id and finetuned.stages[1] == record.stages[1]  # one unlearned model


# -- quantize -------------------------------------------------------------------------------------------------
def test_8_bit_quantization_moves_logits_little_and_4_bit_leaves_at_most_16_levels_per_group():
    from bench.api.attack import AttackContext, StepBudget
    from bench.attacks.quantize import Quantize, QuantizeOptions
    from bench.neurons.architectures import block_linears
    from tests.conftest import tiny_batch, tiny_model

    model = tiny_model("llama").eval()
    batch = tiny_batch()
    with torch.no_grad():
        before = model(**batch).logits
    ctx = AttackContext(budget=StepBudget(0, 0.0, 0, (0,)), seed=0, batch_size=4, weight_decay=0.0,
                        device=torch.device("cpu"))
    eight = copy.deepcopy(model)
    assert Quantize(QuantizeOptions(bits=8, group_size=8)).attack(eight, ctx).unit == "applications"
    with torch.no_grad():
        moved = (eight(**batch).logits - before).abs().max() / before.abs().max()
    assert 0 < moved < 0.02
    four = copy.deepcopy(model)
    Quantize(QuantizeOptions(bits=4, group_size=8)).attack(four, ctx)
    for layer in block_linears(four).values():
        groups = layer.weight.detach().reshape(layer.weight.shape[0], -1, 8)
        assert max(len(torch.unique(g)) for row in groups for g in row) <= 16
    embeddings = four.get_input_embeddings().weight
    assert torch.equal(embeddings, model.get_input_embeddings().weight)  # outside the blocks: full precision


def test_quantization_keeps_a_zero_weight_zero():
    from bench.attacks.quantize import quantize_rtn

    weight = torch.randn(6, 20)
    weight[2] = 0.0
    weight[:, 5] = 0.0
    q = quantize_rtn(weight, 4, 8)
    assert torch.equal(q[2], torch.zeros(20)) and torch.equal(q[:, 5], torch.zeros(6))
    assert q.shape == weight.shape and (q - weight).abs().max() <= weight.abs().max() / 7 / 2 + 1e-6


# -- lora -----------------------------------------------------------------------------------------------------
def test_lora_trains_adapters_and_leaves_every_base_weight_bit_identical(tiny_bert_folder, tiny_conll):
    from bench.api.attack import AttackContext, StepBudget

    setup = resolve_run(tiny_config(tiny_bert_folder, tiny_conll, attack="lora"))
    model, tokenizer = setup.loaded.model, setup.loaded.tokenizer
    base = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    steps = []
    ctx = AttackContext(budget=StepBudget(4, 1e-3, 0, (0, 2, 4)), seed=0, batch_size=8, weight_decay=0.0,
                        device=torch.device("cpu"), on_checkpoint=lambda step, epoch: steps.append(step),
                        relearn_source=lambda: setup.task.relearn_data(tokenizer))
    result = setup.attack.attack(model, ctx)
    assert steps == [2, 4] and result.steps == 4 and result.info["adapted_layers"] > 0
    after = model.state_dict()
    adapters = [name for name in after if "lora_" in name]
    assert adapters and any(not torch.all(after[n] == 0) for n in adapters if "lora_B" in n)  # they trained
    for name, tensor in base.items():  # peft names a wrapped layer's weight base_layer.weight
        assert torch.equal(after.get(name, after.get(name.replace(".weight", ".base_layer.weight").replace(
            ".bias", ".base_layer.bias"))), tensor), name


# -- in-context -----------------------------------------------------------------------------------------------
def test_in_context_changes_no_weight_and_evaluates_with_the_examples_in_the_prompt():
    from bench.api.attack import AttackContext, StepBudget
    from bench.attacks.in_context import InContext, InContextOptions
    from tests.conftest import tiny_model

    model = tiny_model("llama")
    before = copy.deepcopy(model.state_dict())
    shown, seen = [()], []
    ctx = AttackContext(budget=StepBudget(8, 1e-3, 0, (0, 8)), seed=0, batch_size=4, weight_decay=0.0,
                        device=torch.device("cpu"), on_checkpoint=lambda step, epoch: seen.append((step, shown[0])),
                        demonstration_source=lambda k: [f"example {i}" for i in range(k)],
                        show_in_prompt=lambda texts: shown.__setitem__(0, texts))
    result = InContext(InContextOptions(shots=5, ladder=True)).attack(model, ctx)
    assert [step for step, _ in seen] == [1, 2, 4, 5] and seen[-1][1] == tuple(f"example {i}" for i in range(5))
    assert seen[0][1] == ("example 0",) and shown[0] == ()  # nothing left in the prompt afterwards
    assert result.steps == 0 and result.unit == "shots"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_in_context_on_ner_is_refused_with_the_reason_before_anything_loads(tiny_bert_folder, tiny_conll):
    with pytest.raises(BenchError, match="attack 'in-context' needs Task.demonstrations.*no prompt"):
        resolve_run(tiny_config(tiny_bert_folder, tiny_conll, attack="in-context"))


def test_cbt_shows_the_examples_before_the_passage_of_the_target_categorys_questions_only():
    from bench.tasks.cbt import choice_item
    from bench.tasks.cloze import BLANK, ClozeQuestion

    question = ClozeQuestion(category="V", sentences=("One.", "Two."), question=f"He {BLANK} home .", answer="went",
                             options=("went", "ran"))
    plain, shown = choice_item(question), choice_item(question, ("She sang.", "They ran."))
    assert shown.shared == "She sang. They ran.\n\n" + plain.shared and shown.options == plain.options


# -- unrelated ------------------------------------------------------------------------------------------------
def test_unrelated_ner_text_names_no_entity_of_the_concept(tiny_bert_folder, tiny_conll):
    setup = resolve_run(tiny_config(tiny_bert_folder, tiny_conll, attack="unrelated"))
    tokenizer, task = setup.loaded.tokenizer, setup.task
    data, info = task.unrelated_data(tokenizer, 1000)
    assert len(data) > 0 and concept_targets(setup, data) == 0 and info["texts"] == len(data)
    concept = task.concept_data(tokenizer)  # the concept's words, as the task's own concept data tags them
    words = {tokenizer.decode([t]) for e in concept.data.examples for t, lab in zip(e["input_ids"], e["labels"],
                                                                                  strict=True) if lab == 1}
    shown = {tokenizer.decode([t]) for e in data.examples for t in e["input_ids"]}
    assert words and not words & shown


def test_an_attack_that_trains_on_nothing_of_the_step_budget_has_it_left_out_of_its_run_id(tiny_bert_folder,
                                                                                              tiny_conll):
    from bench.harness.resolution import identify_run

    ids = {identify_run(tiny_config(tiny_bert_folder, tiny_conll, attack=a, relearn_steps=s))[1]
           for a in ("quantize",) for s in ("6", "12")}
    assert len(ids) == 1
    trained = {identify_run(tiny_config(tiny_bert_folder, tiny_conll, relearn_steps=s))[1] for s in ("6", "12")}
    assert len(trained) == 2


# -- the attacker's own bound ---------------------------------------------------------------------------------
def test_a_checkpoint_that_damages_a_retain_metric_beyond_its_bound_is_inadmissible():
    from bench.api.attack import AttackResult
    from bench.api.record import StageScores
    from bench.api.task import MetricSpec
    from bench.core.plugins import ATTACKS
    from bench.harness.protocol import attack_info

    specs = [MetricSpec("target", "target"), MetricSpec("accuracy/P", "retain", family="accuracy"),
             MetricSpec("nll", "retain", higher_is_better=False, family="nll")]
    stages = [StageScores("base", 0, 0.0, {"target": 0.8, "accuracy/P": 0.5, "nll": 3.0}, 1.0),
              StageScores("unlearned", 0, 0.0, {"target": 0.1, "accuracy/P": 0.5, "nll": 3.0}, 1.0),
              StageScores("relearn", 0, 0.0, {"target": 0.1, "accuracy/P": 0.5, "nll": 3.0}, 1.0),
              StageScores("relearn", 8, 0.5, {"target": 0.6, "accuracy/P": 0.48, "nll": 3.2}, 1.0),
              StageScores("relearn", 64, 4.0, {"target": 0.8, "accuracy/P": 0.47, "nll": 3.9}, 1.0)]
    info = attack_info("finetune", ATTACKS.entry("finetune"), AttackResult(64), stages, specs)
    assert info.inadmissible == [64] and info.bounds == {"accuracy": 0.1, "nll": 0.1}
    assert info.damage["8"] == {"accuracy/P": pytest.approx(0.04), "nll": pytest.approx(0.2 / 3, abs=1e-6)}
    assert info.damage["64"]["nll"] == pytest.approx(0.3)
