"""Weight-editing unlearning (grad-ascent, grad-diff, npo, simnpo, rmu) and selective pruning: each loss against
a value computed by hand, each method's effect on a tiny model, and the harness carrying a run without a mask."""

import json
import math

import pytest
import torch

import bench.harness.protocol as protocol
import bench.harness.resolution as resolution
from bench.api.data import Examples, Paired
from bench.api.method import UnlearnContext, UnlearningResult
from bench.api.record import SCHEMA_VERSION, migrate
from bench.api.validate import validate_data
from bench.core.errors import BenchError
from bench.core.options import parse_options
from bench.core.plugins import METHODS
from bench.harness.config import build_config
from bench.harness.store import list_runs, run_folder
from bench.harness.sweep import Budget, SweepSpec, plan
from bench.methods.grad_ascent import ascent_loss
from bench.methods.grad_diff import difference_loss
from bench.methods.npo import npo_loss
from bench.methods.rmu import activation_loss, block_states, predicting
from bench.methods.selective_pruning import rms_ratio
from bench.methods.simnpo import simnpo_loss
from bench.models.nll import example_nll, nll_from_logits
from bench.neurons.units import unit_space
from bench.tasks.causal_lm import concept_targets, pad_collate
from tests.conftest import WIRED, concept_data, tiny_model, wired_bert

WEIGHT_METHODS = ("grad-ascent", "grad-diff", "npo", "simnpo", "rmu", "retain-tuning")


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


# -- the losses, by hand ------------------------------------------------------------------------------------
def test_nll_shifts_labels_for_a_causal_model_and_not_for_a_tagger():
    # Two positions, two classes; log-softmax of [0, ln 3] is [ln 1/4, ln 3/4].
    logits = torch.tensor([[[0.0, math.log(3)], [math.log(3), 0.0]]])
    labels = torch.tensor([[1, 1]])
    tagger = nll_from_logits(logits, labels, shift=False)
    assert tagger.total.item() == pytest.approx(-math.log(3 / 4) - math.log(1 / 4))
    assert tagger.count.tolist() == [2]
    causal = nll_from_logits(logits, labels, shift=True)  # position 0 predicts label 1 (of position 1)
    assert causal.total.item() == pytest.approx(-math.log(3 / 4)) and causal.count.tolist() == [1]
    ignored = nll_from_logits(logits, torch.tensor([[-100, 0]]), shift=False)
    assert ignored.total.item() == pytest.approx(-math.log(3 / 4)) and ignored.count.tolist() == [1]


def test_gradient_ascent_and_difference_losses():
    assert ascent_loss(torch.tensor(2.5)).item() == -2.5
    assert difference_loss(torch.tensor(2.0), torch.tensor(3.0), gamma=1.0, alpha=0.5).item() == pytest.approx(-0.5)


def test_npo_loss_is_the_published_formula():
    # log π_θ − log π_ref = (−1, 0): −(2/β) · mean(log σ(β), log σ(0)) with β = 0.1
    loss = npo_loss(torch.tensor([-2.0, -1.0]), torch.tensor([-1.0, -1.0]), beta=0.1)
    assert loss.item() == pytest.approx(-20 * (log_sigmoid(0.1) + math.log(0.5)) / 2)


def test_npo_tends_to_twice_the_log_likelihood_gap_as_beta_goes_to_zero():
    # −(2/β) log σ(−β·d) = (2/β) log 2 + d + O(β): the gradient in d is that of gradient ascent.
    d = torch.tensor([0.3], requires_grad=True)
    npo_loss(d, torch.zeros(1), beta=1e-4).backward()
    assert d.grad.item() == pytest.approx(1.0, abs=1e-3)


def test_simnpo_loss_is_the_published_formula():
    loss = simnpo_loss(torch.tensor([1.0, 2.0]), beta=4.5, delta=0.5)
    assert loss.item() == pytest.approx(-(2 / 4.5) * (log_sigmoid(4.0) + log_sigmoid(8.5)) / 2)


def test_rmu_activation_loss_counts_only_the_counted_positions():
    states = torch.tensor([[[1.0, 3.0], [100.0, 100.0]]])
    target = torch.zeros_like(states)
    assert activation_loss(states, target, torch.tensor([[True, False]])).item() == pytest.approx((1 + 9) / 2)


def test_rmu_steers_the_positions_that_predict_the_targets():
    labels = torch.tensor([[-100, -100, 7, 8, -100], [-100, 3, -100, -100, 4]])
    # A causal LM predicts token t at position t - 1: the states before each target are the ones to steer.
    assert predicting(labels, causal=True).tolist() == [[False, True, True, False, False],
                                                        [True, False, False, True, False]]
    # A token classifier predicts each position's own label.
    assert predicting(labels, causal=False).tolist() == (labels != -100).tolist()


def test_selective_pruning_scores_the_rms_ratio_with_the_others_pooled():
    # labels: other-a (2 tokens), other-b (1 token), concept; one unit
    means = torch.tensor([[[1.0], [2.0], [3.0]]])
    variances = torch.tensor([[[0.0], [5.0], [7.0]]])
    counts = torch.tensor([2.0, 1.0, 4.0])
    retain_square = (2 * 1.0 + 1 * (5 + 4)) / 3
    expected = math.sqrt(7 + 9) / (math.sqrt(retain_square) + 1e-6)
    assert rms_ratio(means, variances, counts, forget=2, epsilon=1e-6).item() == pytest.approx(expected)
    assert torch.isnan(rms_ratio(means, variances, torch.tensor([2.0, 1.0, 0.0]), forget=2, epsilon=1e-6)).all()


def test_selective_pruning_finds_the_unit_wired_to_the_concept():
    model = wired_bert()
    space = unit_space(model)
    ctx = UnlearnContext(space=space, concept=concept_data(), fraction=None, k=1, seed=0, batch_size=8,
                         device=torch.device("cpu"))
    result = METHODS.get("selective-pruning")().unlearn(model, ctx)
    assert result.kind == "mask" and result.mask.k == 1 and bool(result.mask.pruned[WIRED])


# -- each method on a tiny causal model -----------------------------------------------------------------------
def token_sets(seed: int = 0) -> tuple[Examples, Examples]:
    """Random sequences; forget targets are tokens below 32, retain targets tokens from 32 on (context otherwise)."""
    g = torch.Generator().manual_seed(seed)
    forget, retain = [], []
    for _ in range(24):
        ids = torch.randint(1, 64, (12,), generator=g).tolist()
        forget.append({"input_ids": ids, "labels": [t if t < 32 else -100 for t in ids]})
        ids = torch.randint(1, 64, (12,), generator=g).tolist()
        retain.append({"input_ids": ids, "labels": [t if t >= 32 else -100 for t in ids]})
    return Examples(forget, pad_collate(0)), Examples(retain, pad_collate(0))


def topic_sets(seed: int = 0) -> tuple[Examples, Examples]:
    """Forget sequences of tokens below 32 and retain sequences of tokens from 32 on, every token a target: the
    positions that predict a forget target see forget tokens, as a concept's context does in text (in
    `token_sets` a target's predecessor is any token, and no state before it can tell)."""
    g = torch.Generator().manual_seed(seed)
    forget = [torch.randint(1, 32, (12,), generator=g).tolist() for _ in range(24)]
    retain = [torch.randint(32, 64, (12,), generator=g).tolist() for _ in range(24)]
    return tuple(Examples([{"input_ids": ids, "labels": ids} for ids in part], pad_collate(0))
                 for part in (forget, retain))


def mean_nll(model, examples: Examples) -> float:
    with torch.no_grad():
        return float(example_nll(model, next(iter(examples.loader(len(examples))))).batch_mean())


def unlearn_tiny(name: str, sets=token_sets, **options):
    model = tiny_model("llama")
    forget, retain = sets()
    cls = METHODS.get(name)
    method = cls(parse_options(cls.Options, {"lr": 1e-3, "steps": 8, **options}, name))
    ctx = UnlearnContext(space=unit_space(model), concept=None, fraction=None, k=None, seed=0, batch_size=8,
                         device=torch.device("cpu"), forget_source=lambda: forget, retain_source=lambda: retain)
    before = model.state_dict()
    before = {key: value.clone() for key, value in before.items()}
    return model, method, ctx, before, forget, retain


# Tolerances: the forget NLL must rise by at least `rise` nats; the retain NLL may rise by at most `retain_rise`
# (8 steps at lr 1e-3 on a random 2-layer model; measured rises are 2-10 times the thresholds).
@pytest.mark.parametrize("name, rise, retain_rise", [
    ("grad-ascent", 0.03, 0.05),  # no retain term: the retain tokens only move as a side effect
    ("grad-diff", 0.03, 0.0),
    ("npo", 0.03, 0.0),
    ("simnpo", 0.003, 0.0),  # its forget term is weighted 0.125 and saturates
])
def test_a_gradient_method_raises_the_forget_loss_and_keeps_the_retain_loss(name, rise, retain_rise):
    model, method, ctx, _, forget, retain = unlearn_tiny(name)
    forget_before, retain_before = mean_nll(model, forget), mean_nll(model, retain)
    result = method.unlearn(model, ctx)
    assert result.kind == "weights" and result.mask is None and result.budget["steps"] == 8
    assert mean_nll(model, forget) > forget_before + rise
    assert mean_nll(model, retain) <= retain_before + retain_rise
    assert all(p.requires_grad for p in model.parameters())  # relearning trains every weight


def test_rmu_steers_the_forget_states_trains_only_its_layers_and_keeps_the_retain_states():
    # Every MLP weight trains here: a random 2-layer model's MLP activations are too small for its output
    # projections alone (the default, WMDP's) to carry the states far within a test's 16 steps.
    model, method, ctx, before, forget, retain = unlearn_tiny("rmu", topic_sets, layer=1, layers_trained=1,
                                                                alpha=10.0, lr=1e-2, steps=16, trained="mlp")
    forget_batch, retain_batch = (next(iter(d.loader(len(d)))) for d in (forget, retain))
    reference = tiny_model("llama")
    with torch.no_grad():
        kept = block_states(reference, 1, retain_batch)
    result = method.unlearn(model, ctx)
    assert result.kind == "weights" and result.info["layer"] == 1 and result.info["trained_layers"] == [1]
    with torch.no_grad():
        after, original = block_states(model, 1, forget_batch), block_states(reference, 1, forget_batch)
        target = method.control.expand_as(after)
        counted, kept_positions = (predicting(b["labels"], causal=True) for b in (forget_batch, retain_batch))
        steered = activation_loss(after, target, counted)
        unsteered = activation_loss(original, target, counted)
        drift = activation_loss(block_states(model, 1, retain_batch), kept, kept_positions)
    # Measured: the forget states' distance to the target falls 8-fold; the retain states move 1% of it.
    assert steered < 0.5 * unsteered
    assert drift < 0.05 * unsteered
    changed = {key for key, value in model.state_dict().items() if not torch.equal(value, before[key])}
    assert changed and all(key.startswith("model.layers.1.mlp.") for key in changed)
    assert all(p.requires_grad for p in model.parameters())
    objective = result.info["objective"]
    assert objective["reached"] and objective["end"]["forget"] <= 0.5 * objective["start"]["forget"]
    assert objective["end"]["cosine"] > objective["start"]["cosine"]


@pytest.mark.parametrize("trained, names", [("mlp_out", ("down",)), ("mlp", ("gate", "up", "down"))])
def test_rmu_trains_the_mlp_output_projections_as_wmdp_does_or_every_mlp_weight(trained, names):
    model, method, ctx, before, *_ = unlearn_tiny("rmu", topic_sets, layer=1, layers_trained=2, steps=2,
                                                  trained=trained)
    method.unlearn(model, ctx)
    changed = {key for key, value in model.state_dict().items() if not torch.equal(value, before[key])}
    assert changed == {f"model.layers.{layer}.mlp.{name}_proj.weight" for layer in (0, 1) for name in names}


def test_rmu_sets_its_steering_norm_from_the_median_state_not_a_few_huge_ones():
    model, method, ctx, *_ = unlearn_tiny("rmu", layer=1, layers_trained=1)
    method.prepare(model, ctx)
    forget = next(iter(ctx.forget_data().loader(len(ctx.forget_data()))))
    with torch.no_grad():
        norms = block_states(model, 1, forget).norm(dim=-1)[predicting(forget["labels"], causal=True)]
    method.finish(model)
    assert method.norm == pytest.approx(float(norms.median()), rel=1e-5)
    assert method.control.norm().item() == pytest.approx(4.0 * method.norm, rel=1e-5)


# -- each method shows whether it reached its own objective --------------------------------------------------------
@pytest.mark.parametrize("name", ["grad-ascent", "grad-diff", "npo", "simnpo"])
def test_a_gradient_method_records_its_objective_at_the_start_and_the_end(name):
    model, method, ctx, _, forget, retain = unlearn_tiny(name, steps=16)
    forget_before = mean_nll(model, forget)
    objective = method.unlearn(model, ctx).info["objective"]
    assert objective["probe_pairs"] == 24 and objective["start"]["forget_nll"] == pytest.approx(forget_before, rel=1e-4)
    assert objective["end"]["forget_nll"] > objective["start"]["forget_nll"]
    assert objective["rule"].startswith("the forget targets' mean NLL rose by at least ln 2")
    assert objective["reached"] == (objective["end"]["forget_nll"] - objective["start"]["forget_nll"] >= math.log(2))
    if name in ("npo", "simnpo"):  # the forget term's effective weight falls as the examples are forgotten
        assert objective["end"]["forget_weight"] < objective["start"]["forget_weight"]


def test_a_method_whose_objective_did_not_move_is_recorded_as_such():
    model, method, ctx, *_ = unlearn_tiny("grad-ascent", lr=1e-9, steps=1)
    objective = method.unlearn(model, ctx).info["objective"]
    assert objective["reached"] is False


def test_simnpo_sets_beta_from_the_forget_data_so_that_beta_times_nll_is_one():
    model, method, ctx, _, forget, _ = unlearn_tiny("simnpo")
    with torch.no_grad():
        nll = example_nll(model, next(iter(forget.loader(len(forget)))))
    result = method.unlearn(model, ctx)
    assert result.info["beta"] * float(nll.mean_per_token.median()) == pytest.approx(1.0, rel=1e-4)
    # At the start the forget term weighs 2γσ(−1) ≈ 0.067 of gradient ascent, not TOFU's β = 4.5's 1e-5 here.
    start = result.info["objective"]["start"]["forget_weight"]
    assert 0.04 < start < 0.1
    _, fixed, fixed_ctx, *_ = unlearn_tiny("simnpo", beta=4.5)
    assert fixed.unlearn(tiny_model("llama"), fixed_ctx).info["beta"] == 4.5


def test_retain_tuning_trains_on_the_retain_data_alone_and_has_no_objective_to_reach():
    model, method, ctx, _, forget, retain = unlearn_tiny("retain-tuning")
    retain_before = mean_nll(model, retain)
    result = method.unlearn(model, ctx)
    assert mean_nll(model, retain) < retain_before
    assert result.info["objective"]["reached"] is None and result.info["objective"]["rule"] is None


def test_the_rmu_forward_pass_stops_at_its_block():
    model = tiny_model("llama")
    calls = []
    model.lm_head.register_forward_hook(lambda *a: calls.append(1))
    batch = {"input_ids": torch.tensor([[1, 2, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    assert block_states(model, 0, batch).shape == (1, 3, 16)
    assert calls == []
    assert not model.model.layers[0]._forward_hooks  # its hook is gone


def test_paired_batches_cycle_the_retain_set_and_depend_only_on_the_seed():
    forget, retain = token_sets()
    short = Examples(retain.examples[:5], retain.collate)
    paired = Paired(forget, short)
    batches = list(paired.loader(8, shuffle=True, seed=3))
    assert len(batches) == 3 and set(batches[0]) == {"forget", "retain"}
    assert batches[0]["retain"]["input_ids"].shape[0] == 8
    again = list(paired.loader(8, shuffle=True, seed=3))
    assert all(torch.equal(a["retain"]["input_ids"], b["retain"]["input_ids"]) for a, b in zip(batches, again))


# -- the harness ------------------------------------------------------------------------------------------------
def test_a_result_must_remove_something_and_says_what_kind():
    with pytest.raises(BenchError, match="neither a mask nor edited weights"):
        UnlearningResult()
    assert UnlearningResult(edited=True).kind == "weights"


def tiny_config(model, data, **cli):
    values = {"model": str(model), "data": str(data), "finetune_epochs": "8", "finetune_lr": "3e-3",
              "relearn_steps": "12", "relearn_checkpoints": "4", "batch_size": "8", **cli}
    return build_config(cli_values=values)


def test_a_weight_editing_method_takes_its_budget_in_steps_not_units(tiny_bert_folder, tiny_conll):
    cfg = tiny_config(tiny_bert_folder, tiny_conll, method="grad-ascent")
    assert cfg.fraction is None and cfg.k is None
    with pytest.raises(BenchError, match="edits weights and takes no unit budget .*--fraction.*steps"):
        resolution.identify_run(tiny_config(tiny_bert_folder, tiny_conll, method="grad-ascent", fraction="0.1"))
    with pytest.raises(BenchError, match="prunes units: give a budget"):
        resolution.identify_run(tiny_config(tiny_bert_folder, tiny_conll, method="random").__class__(
            method="random", fraction=None, model=str(tiny_bert_folder), data=str(tiny_conll)))


def test_a_gradient_run_records_edited_weights_and_no_mask(tiny_bert_folder, tiny_conll):
    cfg = tiny_config(tiny_bert_folder, tiny_conll, method="npo", method_options={"steps": "6", "lr": "1e-3"})
    record = protocol.run(cfg)
    assert record.unlearning.kind == "weights" and record.mask is None
    assert record.unlearning.budget == {"steps": 6, "lr": 1e-3, "batch_size": 8, "warmup_steps": 0}
    assert record.method.info["forget_examples"] > 0 and "provenance" not in record.method.info
    assert "the unlearning's data order" in record.provenance.seed_varies
    folder = run_folder(record.run_id)
    assert not (folder / "mask.safetensors").exists()
    validate_data(json.loads((folder / "record.json").read_text()), "r")
    assert [row.k for row in list_runs() if row.run_id == record.run_id] == [None]
    # The run id covers the method's budget: another number of steps is another run.
    other = tiny_config(tiny_bert_folder, tiny_conll, method="npo", method_options={"steps": "7", "lr": "1e-3"})
    assert resolution.identify_run(other)[1] != record.run_id
    assert resolution.identify_run(cfg)[1] == record.run_id


def test_a_sweep_plans_a_weight_editing_method_once_per_seed_and_task_whatever_the_unit_budgets():
    spec = SweepSpec(methods=("grad-ascent", "random"), tasks=("ner",), seeds=(0,),
                     budgets=(Budget(fraction=0.01), Budget(fraction=0.1)), controls=False,
                     task_settings={"ner": {"fraction": 0.2}})
    runs = plan(spec)
    assert [(c.method, c.fraction) for c in runs] == [("random", 0.01), ("grad-ascent", None), ("random", 0.1)]


def test_a_version_3_record_migrates_its_mask_into_the_unlearning_section():
    data = {"schema_version": 3, "config": {"fraction": 0.01}, "mask": {"k": 5, "k_requested": 9}}
    migrated = migrate(data)
    assert migrated["schema_version"] == SCHEMA_VERSION and "mask" not in migrated
    assert migrated["unlearning"] == {"kind": "mask", "budget": {"units": 9, "fraction": 0.01},
                                      "mask": {"k": 5, "k_requested": 9}}
    none = migrate({"schema_version": 3, "config": {"fraction": None, "k": 3}, "mask": {"k": 0}})
    assert none["unlearning"]["kind"] == "none" and none["unlearning"]["budget"] == {"units": 0}


# -- what tasks give a method -------------------------------------------------------------------------------------
def test_concept_targets_make_forget_and_retain_sets_from_concept_labels():
    concept = concept_data()
    forget, retain = concept_targets(concept, 1), concept_targets(concept, 0)
    row = concept.data.examples[0]
    assert forget.examples[0]["input_ids"] == row["input_ids"]
    assert [t for t, label in zip(forget.examples[0]["labels"], row["labels"]) if label != 1] == [-100] * 9
    assert [t for t in forget.examples[0]["labels"] if t != -100] == [9]
    assert all(t != 9 for e in retain.examples for t in e["labels"])
    assert len(concept_targets(concept_data(with_concept=False), 1)) == 0  # no concept token, no example


def test_ner_gives_methods_one_half_of_the_training_split_and_the_attacker_the_other(tiny_conll):
    from bench.api.task import TaskSettings
    from bench.tasks.ner import NerOptions, NerTask
    from bench.testing import tiny_tokenizer

    task = NerTask(TaskSettings(None, str(tiny_conll), 0, None, NerOptions()))
    tokenizer = tiny_tokenizer()
    parts = task.training_parts()
    assert not {s.tokens for s in parts["unlearn"]} & {s.tokens for s in parts["relearn"]}
    assert not {s.tokens for s in parts["relearn"]} & {s.tokens for s in task.eval_sentences}
    concept_tag_ids = {i for i, tag in enumerate(task.tags) if tag.endswith("geo-loc")}
    forget, retain = task.forget_data(tokenizer), task.retain_data(tokenizer)
    assert {t for e in forget.examples for t in e["labels"] if t != -100} <= concept_tag_ids
    assert not {t for e in retain.examples for t in e["labels"] if t != -100} & concept_tag_ids
    assert len(task.relearn_data(tokenizer)) == len(parts["relearn"])
    assert len(task.concept_data(tokenizer).data) == len(parts["unlearn"])
    never, prepared = task.preparation_without_concept(tokenizer), task.preparation_data(tokenizer)
    assert not {t for e in never.examples for t in e["labels"]} & concept_tag_ids
    # The concept's words leave the loss (never taught), they are not tagged O (taught the opposite): every
    # label the full preparation gives a location word is -100 here, and every other word keeps its own tag.
    outside = task.tags.index("O")
    by_ids = {tuple(e["input_ids"]): e["labels"] for e in never.examples}
    moved = 0
    for e in prepared.examples:
        labels = by_ids.get(tuple(e["input_ids"]))
        for full, without in zip(e["labels"], labels or [-100] * len(e["labels"]), strict=True):
            if full in concept_tag_ids:
                assert without == -100
                moved += 1
            elif labels is not None:
                assert without == full
    assert moved > 0 and outside not in concept_tag_ids


def test_cbt_cannot_have_a_never_learned_control_and_says_why():
    from bench.tasks.cbt import CbtTask

    with pytest.raises(BenchError, match="cannot have a never-learned control: its capability .* pretraining"):
        CbtTask.preparation_without_concept(object.__new__(CbtTask), None)


@pytest.mark.parametrize("name", WEIGHT_METHODS)
def test_every_weight_editing_method_is_registered_with_a_step_budget(name):
    cls = METHODS.get(name)
    assert not cls.unit_budget and cls.uses_seed
    options = parse_options(cls.Options, {}, name)
    assert options.steps >= 1 and options.lr > 0
    with pytest.raises(BenchError, match="steps must be at least 1"):
        parse_options(cls.Options, {"steps": "0"}, name)


# -- on the leaderboard -------------------------------------------------------------------------------------------
def test_gradient_methods_share_the_board_with_pruning_each_at_its_best_step_budget():
    from bench.results.leaderboard import build_boards
    from tests.made_records import made_record

    none = [made_record("none", s, unlearned=0.8, relearn=(0.8, 0.8, 0.8, 0.8), retain_unlearned=0.9) for s in range(3)]
    short = [made_record("grad-ascent", s, steps=8, unlearned=0.5, relearn=(0.5, 0.6, 0.7, 0.75)) for s in range(3)]
    long = [made_record("grad-ascent", s, steps=32, unlearned=0.2, relearn=(0.2, 0.3, 0.5, 0.7)) for s in range(3)]
    faint = [made_record("grad-diff", s, steps=8, unlearned=0.8, relearn=(0.8, 0.8, 0.8, 0.8)) for s in range(3)]
    stronger = [made_record("npo", s, steps=8, unlearned=0.95, relearn=(0.95, 0.95, 0.95, 0.95)) for s in range(3)]
    board = build_boards(none + short + long + faint + stronger)[0]
    by_budget = {(e.method, e.budget): e for e in board.entries}
    best, other = by_budget[("grad-ascent", "32 steps at lr 1e-05")], by_budget[("grad-ascent", "8 steps at lr 1e-05")]
    assert best.status == "ranked" and best.rank == 1 and best.k is None
    assert other.status == "not ranked: 32 steps at lr 1e-05 is this method's best budget"
    assert by_budget[("grad-diff", "8 steps at lr 1e-05")].status.startswith("not distinguishable from none")
    # Forgetting resolved from 0 in the wrong direction (the concept got stronger) is never ranked.
    assert by_budget[("npo", "8 steps at lr 1e-05")].status.startswith("not ranked: it strengthens the concept")
    assert "anamnesis" not in [f.name for f in board.figures()]  # no never-learned control on this board


def test_an_entry_whose_method_did_not_reach_its_objective_is_not_ranked_under_its_name():
    from bench.results.leaderboard import build_boards
    from tests.made_records import made_record

    none = [made_record("none", s, unlearned=0.8, relearn=(0.8, 0.8, 0.8, 0.8), retain_unlearned=0.9) for s in range(3)]
    moved = [made_record("grad-ascent", s, steps=8, unlearned=0.2, relearn=(0.2, 0.3, 0.5, 0.7)) for s in range(3)]
    stuck = [made_record("rmu", s, steps=8, unlearned=0.2, relearn=(0.2, 0.3, 0.5, 0.7)) for s in range(3)]
    for records, missed_at in ((moved, ()), (stuck, (1,))):
        for r in records:
            r.method.info = {"objective": {"reached": r.config["seed"] not in missed_at, "rule": "its forget term fell"}}
    board = build_boards(none + moved + stuck)[0]
    by_method = {e.method: e for e in board.entries}
    assert by_method["grad-ascent"].status == "ranked"
    assert by_method["rmu"].status == "not ranked: did not reach its objective at seed 1 (its forget term fell)"
    assert by_method["rmu"].rank is None


def test_a_method_that_trains_on_retain_data_is_compared_with_retain_tuning_at_its_budget():
    from bench.results.leaderboard import build_boards
    from tests.made_records import made_record

    def records(method, unlearned, relearn, retain_term=True):
        made = [made_record(method, s, steps=8, unlearned=unlearned, relearn=relearn) for s in range(3)]
        for r in made:
            r.method.info = {"retain_term": retain_term}
        return made

    none = [made_record("none", s, unlearned=0.8, relearn=(0.8, 0.8, 0.8, 0.8), retain_unlearned=0.9) for s in range(3)]
    detox = records("retain-tuning", 0.3, (0.3, 0.4, 0.5, 0.6))  # the retain data alone take most of the concept
    same = records("grad-diff", 0.3, (0.3, 0.4, 0.5, 0.6))  # its forget term adds nothing to that
    ascent = records("grad-ascent", 0.3, (0.3, 0.4, 0.5, 0.6), retain_term=False)  # no retain data: against none
    board = build_boards(none + detox + same + ascent)[0]
    by_method = {e.method: e for e in board.entries}
    assert by_method["retain-tuning"].status == "control"
    assert by_method["grad-diff"].control == "retain-tuning"
    assert by_method["grad-diff"].status.startswith("not distinguishable from retain-tuning (forgetting minus "
                                                    "retain-tuning's at the same step budget")
    assert by_method["grad-ascent"].control == "none" and by_method["grad-ascent"].status == "ranked"
    # Without retain-tuning on the board, grad-diff is judged against the none control's 0, as before.
    alone = {e.method: e for e in build_boards(none + same)[0].entries}
    assert alone["grad-diff"].control == "none" and alone["grad-diff"].status == "ranked"


def test_retain_tuning_controls_only_the_entries_at_its_own_step_budget():
    """Real runs carry their budget as method options; retain-tuning at 16 steps says nothing about grad-diff at 8."""
    from bench.results.leaderboard import build_boards
    from tests.made_records import made_record

    def records(method, steps, unlearned):
        made = [made_record(method, s, steps=steps, unlearned=unlearned, relearn=(unlearned,) * 4,
                            method_options={"steps": steps, "lr": 1e-5}) for s in range(3)]
        for r in made:
            r.method.info = {"retain_term": True}
        return made

    none = [made_record("none", s, unlearned=0.8, relearn=(0.8,) * 4, retain_unlearned=0.9) for s in range(3)]
    grad_diff = records("grad-diff", 8, 0.3)
    at_8, at_16 = records("retain-tuning", 8, 0.3), records("retain-tuning", 16, 0.3)
    board = build_boards(none + grad_diff + at_8 + at_16)[0]
    matched = {(e.method, e.budget): e for e in board.entries}
    assert matched[("grad-diff", "8 steps at lr 1e-05")].control == "retain-tuning"
    from bench.results.pages import plot_budgets, plot_curves

    # retain-tuning's dash pattern is a tuple: both plots draw it.
    assert plot_curves(board, "png").startswith(b"\x89PNG") and plot_budgets(board, "png").startswith(b"\x89PNG")
    other = {e.method: e for e in build_boards(none + grad_diff + at_16)[0].entries}
    assert other["grad-diff"].control == "none"


def test_the_never_learned_control_gives_each_entry_its_anamnesis_index_a_ratio_of_times_not_of_levels():
    from bench.results.leaderboard import build_boards
    from tests.made_records import made_record

    # Base 0.8: the level is 0.72. grad-ascent regains it at step 16, the never-learned control reaches it at 64:
    # the index is 16 / 64. npo never regains it within the attack: censored, "> 64 / 64".
    none = [made_record("none", s, unlearned=0.8, relearn=(0.8,) * 4, retain_unlearned=0.9) for s in range(3)]
    never = [made_record("never-learned", s, base=0.05, unlearned=0.05, relearn=(0.05, 0.2, 0.5, 0.75), k=0)
             for s in range(3)]
    ascent = [made_record("grad-ascent", s, steps=32, relearn=(0.2, 0.5, 0.75, 0.8)) for s in range(3)]
    slow = [made_record("npo", s, steps=32, relearn=(0.2, 0.3, 0.5, 0.7)) for s in range(3)]
    board = build_boards(none + never + ascent + slow)[0]
    entry = next(e for e in board.entries if e.method == "grad-ascent")
    assert entry.anamnesis.value == pytest.approx(16 / 64) and entry.anamnesis.text() == "0.25 (16 vs 64 steps)"
    assert next(e for e in board.entries if e.method == "npo").anamnesis.text() == "> 1 (> 64 vs 64 steps)"
    assert "anamnesis" in [f.name for f in board.figures()]
    # The intact model has nothing to regain: undefined, not 0.
    assert next(e for e in board.entries if e.method == "none").anamnesis.text() == "–"
    control = next(e for e in board.entries if e.method == "never-learned")
    assert control.status == "control" and control.anamnesis is None
    # Its base is the concept-free model: figures relative to it would measure a near-0 denominator.
    assert [control.stats[name].mean for name in ("score", "relearned", "resistance_vs_base")] == [None] * 3


def test_the_never_learned_control_is_prepared_without_the_concept(tiny_bert_folder, tiny_conll):
    never = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, method="never-learned"))
    none = protocol.run(tiny_config(tiny_bert_folder, tiny_conll, method="none"))
    assert never.model.preparation.without_concept and none.model.preparation.without_concept is None
    assert never.model.preparation.cache_key != none.model.preparation.cache_key
    assert none.stages[0].scores["f1/geo-loc"] > 0.5  # the preparation taught the concept ...
    assert never.stages[0].scores["f1/geo-loc"] == 0.0  # ... and, without its tags, did not
    assert never.unlearning.kind == "none"


def test_a_task_without_a_never_learned_control_is_refused_before_anything_loads():
    with pytest.raises(BenchError, match="needs the model prepared without the concept.*pretraining"):
        resolution.identify_run(build_config(cli_values={"method": "never-learned", "task": "cbt"}))


def test_npo_asks_the_frozen_model_once_per_forget_example(monkeypatch):
    import bench.methods.npo as npo

    calls = []
    real = npo.example_nll

    def counting(model, batch):
        # The frozen reference is in eval mode, the trained model is not; each call's rows, by their tokens.
        calls.append((model.training, [tuple(row.tolist()) for row in batch["input_ids"]]))
        return real(model, batch)

    monkeypatch.setattr(npo, "example_nll", counting)
    model, method, ctx, _, forget, _ = unlearn_tiny("npo", steps=6)  # 24 forget examples, batch 8: two passes
    method.unlearn(model, ctx)
    asked = [row for training, rows in calls if not training for row in rows]
    assert len(asked) == len(set(asked)) == 24  # the reference saw every forget example, each once
    assert sum(training for training, _ in calls) == 12  # forget and retain NLL at every step


def test_a_version_4_record_migrates_to_the_finetune_attack_it_ran():
    data = {"schema_version": 4, "config": {"relearn_steps": 256, "relearn_lr": 2e-4}}
    migrated = migrate(data)
    assert migrated["schema_version"] == SCHEMA_VERSION
    assert migrated["config"] == {"relearn_steps": 256, "relearn_lr": 2e-4, "attack": "finetune", "attack_options": {}}
    assert migrated["attack"] == {"name": "finetune", "version": 1, "origin": "built-in"}
    assert data == {"schema_version": 4, "config": {"relearn_steps": 256, "relearn_lr": 2e-4}}  # a copy, not an edit
