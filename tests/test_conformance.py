"""The conformance suite method authors run (bench.testing): the example plug-in and the built-in methods
pass it, and each check fails, naming itself, on a method that breaks its rule."""

import pytest
import torch

from bench.api.method import PruningMethod
from bench.core.plugins import METHODS
from bench.core.registry import Entry
from bench.testing import check_method

ALL_CHECKS = ["registered", "units", "deterministic", "no hooks left", "record"]
EDIT_CHECKS = ["registered", "edits", "deterministic", "no hooks left", "record"]


def test_the_example_plugin_passes_every_check(installed_plugin, tmp_path):
    assert check_method("last-layers", tmp_path) == ALL_CHECKS


def test_the_example_weight_editing_plugin_passes_every_check(installed_plugin, tmp_path):
    assert check_method("kl-ascent", tmp_path, {"steps": "4", "lr": "1e-3"}) == EDIT_CHECKS


@pytest.mark.parametrize("name", ["random", "concept-neurons", "selective-pruning"])
def test_built_in_methods_pass_every_check(name, tmp_path):
    assert check_method(name, tmp_path) == ALL_CHECKS


@pytest.mark.parametrize("name", ["grad-ascent", "grad-diff", "npo", "simnpo", "rmu"])
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


@pytest.mark.parametrize(("cls", "check"), [(LeavesAHook, "no hooks left"), (Unseeded, "deterministic"),
                                            (WrongShape, "units")])
def test_a_method_that_breaks_a_rule_fails_that_check(cls, check, tmp_path, monkeypatch):
    METHODS.names()  # the built-ins are loaded, so the stand-in is only added
    monkeypatch.setitem(METHODS._entries, "broken", Entry("broken", cls, "tests"))
    with pytest.raises(AssertionError, match=f"^{check}: "):
        check_method("broken", tmp_path)


def test_an_unknown_method_fails_the_registered_check(tmp_path):
    with pytest.raises(AssertionError, match="registered: unknown method 'nope'"):
        check_method("nope", tmp_path)
