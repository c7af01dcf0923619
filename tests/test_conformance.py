"""The conformance suite method and attack authors run (bench.testing): the example plug-ins, the built-in methods
and the built-in attacks pass it, and each check fails, naming itself, on a plug-in that breaks its rule."""

import pytest
import torch

from bench.api.attack import Attack, AttackResult
from bench.api.method import ObjectiveRule, PruningMethod, WeightEditingMethod
from bench.core.plugins import ATTACKS, METHODS
from bench.core.registry import Entry
from bench.testing import check_attack, check_method

ALL_CHECKS = ["registered", "units", "deterministic", "no hooks left", "record"]
EDIT_CHECKS = ["registered", "edits", "objective", "deterministic", "no hooks left", "record"]


def test_the_example_plugin_passes_every_check(installed_plugin, tmp_path):
    assert check_method("last-layers", tmp_path) == ALL_CHECKS


def test_the_example_weight_editing_plugin_passes_every_check(installed_plugin, tmp_path):
    assert check_method("kl-ascent", tmp_path, {"steps": "4", "lr": "1e-3"}) == EDIT_CHECKS


@pytest.mark.parametrize("name", ["random", "concept-neurons", "selective-pruning"])
def test_built_in_methods_pass_every_check(name, tmp_path):
    assert check_method(name, tmp_path) == ALL_CHECKS


@pytest.mark.parametrize("name", ["grad-ascent", "grad-diff", "npo", "simnpo", "rmu", "retain-tuning"])
def test_built_in_weight_editing_methods_pass_every_check(name, tmp_path):
    assert check_method(name, tmp_path, {"steps": "4", "lr": "1e-3"}) == EDIT_CHECKS


class LeavesAHook(PruningMethod):
    """Scores every unit alike, and forgets to remove the hook it looked through."""

    version = 1

    def score_units(self, model, ctx):
        model.register_forward_hook(lambda module, args, output: None)
        return torch.ones(ctx.space.shape)


class Unseeded(PruningMethod):
    """Draws its scores from an RNG it seeds itself from the clock: two runs with one seed differ."""

    version = 1

    def score_units(self, model, ctx):
        return torch.rand(ctx.space.shape, generator=torch.Generator().manual_seed(torch.seed()))


class WrongShape(PruningMethod):
    version = 1

    def score_units(self, model, ctx):
        return torch.ones(ctx.space.shape[0], ctx.space.shape[1] + 1)


class WatchesAnUnmeasuredTerm(WeightEditingMethod):
    """Ascends on the forget NLL, but its rule watches a term its objective_terms never reports."""

    version = 1
    objective = ObjectiveRule("kl", "fall", 0.5, "its KL term halved")

    def loss(self, model, batch):
        return -model(**batch["forget"]).loss


@pytest.mark.parametrize(("cls", "check"), [(LeavesAHook, "no hooks left"), (Unseeded, "deterministic"),
                                            (WrongShape, "units"), (WatchesAnUnmeasuredTerm, "objective")])
def test_a_method_that_breaks_a_rule_fails_that_check(cls, check, tmp_path, monkeypatch):
    METHODS.names()  # the built-ins are loaded, so the stand-in is only added
    monkeypatch.setitem(METHODS._entries, "broken", Entry("broken", cls, "tests"))
    with pytest.raises(AssertionError, match=f"^{check}: "):
        check_method("broken", tmp_path)


def test_an_unknown_method_fails_the_registered_check(tmp_path):
    with pytest.raises(AssertionError, match="registered: unknown method 'nope'"):
        check_method("nope", tmp_path)


ATTACK_CHECKS = ["registered", "checkpoints", "mask kept", "deterministic", "no hooks left", "record"]


# check_attack runs on the tiny NER world, where in-context is refused (a token classifier has no prompt):
# tests/test_attacks.py checks it on a tiny causal model.
@pytest.mark.parametrize("name", [n for n in ATTACKS.names() if n != "in-context"])
def test_built_in_attacks_pass_every_check(name, tmp_path):
    assert check_attack(name, tmp_path) == ATTACK_CHECKS


def test_an_adapter_that_reads_the_pruned_units_around_the_mask_fails_mask_kept(tmp_path, monkeypatch):
    import bench.attacks.lora as lora

    monkeypatch.setattr(lora, "_carry_input_hooks", lambda wrapper: None)  # the adapter sees the unmasked input
    with pytest.raises(AssertionError, match="^mask kept: the pruned units' weights still change the output"):
        check_attack("lora", tmp_path)


class RevivesPrunedUnits(Attack):
    """Sets every weight to one: the pruned units come back."""

    def attack(self, model, ctx):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.fill_(1.0)
        ctx.on_checkpoint(ctx.budget.checkpoints[-1], 0.0)
        return AttackResult(steps=0)


class EvaluatesOffBudget(Attack):
    """Asks for an evaluation at a step the budget does not have."""

    def attack(self, model, ctx):
        ctx.on_checkpoint(3, 0.0)
        return AttackResult(steps=0)


class TrainsPastItsBudget(Attack):
    def attack(self, model, ctx):
        return AttackResult(steps=ctx.budget.steps + 1)


@pytest.mark.parametrize(("cls", "check"), [(RevivesPrunedUnits, "mask kept"), (EvaluatesOffBudget, "checkpoints"),
                                            (TrainsPastItsBudget, "checkpoints")])
def test_an_attack_that_breaks_a_rule_fails_that_check(cls, check, tmp_path, monkeypatch):
    ATTACKS.names()  # the built-ins are loaded, so the stand-in is only added
    monkeypatch.setitem(ATTACKS._entries, "broken", Entry("broken", cls, "tests"))
    with pytest.raises(AssertionError, match=f"^{check}: "):
        check_attack("broken", tmp_path)


def test_an_unknown_attack_fails_the_registered_check(tmp_path):
    with pytest.raises(AssertionError, match="registered: unknown relearning attack 'nope'; choices: .*finetune"):
        check_attack("nope", tmp_path)


def test_the_example_attack_plugin_passes_every_check(installed_plugin, tmp_path):
    assert check_attack("half-data", tmp_path, {"share": "0.5"}) == ATTACK_CHECKS


def test_the_attack_in_the_extending_guide_is_the_example_plugins_own():
    from pathlib import Path

    root = Path(__file__).resolve().parent
    guide = (root.parent / "docs" / "extending.md").read_text()
    code = guide.split("# my_package/attacks.py\n", 1)[1].split("```", 1)[0]
    plugin = (root / "plugin_example" / "bench_example_plugin" / "attacks.py").read_text()
    assert plugin.split('"""\n\n', 1)[1] == code
