"""The registry: decorator registration, did-you-mean errors, and third-party entry points."""

import pytest

from bench.api.method import PruningMethod
from bench.core.errors import UnknownNameError
from bench.core.plugins import METHODS, TASKS
from bench.core.registry import BUILT_IN, DuplicateNameError, PluginLoadError


def test_builtins_are_registered_at_their_definition_site():
    entry = METHODS.entry("random")
    assert entry.origin == BUILT_IN
    assert entry.obj.__module__ == "bench.methods.random_pruning"
    assert "random" in entry.description.lower()
    assert TASKS.entry("ner").origin == BUILT_IN


def test_unknown_name_lists_choices_and_suggests_the_closest():
    with pytest.raises(UnknownNameError) as info:
        METHODS.get("randon")
    message = str(info.value)
    assert "unknown method 'randon'" in message
    assert "did you mean 'random'" in message
    assert "choices:" in message and "random" in message


def test_a_taken_name_is_an_error():
    class Other(PruningMethod):
        def score_units(self, model, ctx):
            raise AssertionError("never called")

    with pytest.raises(DuplicateNameError, match="'random' is already taken"):
        METHODS.register("random")(Other)


def test_third_party_methods_are_found_through_entry_points(installed_plugin):
    entry = METHODS.entry("last-layers")
    assert entry.origin == "bench-example-plugin 0.1.0"
    assert entry.obj.__name__ == "LastLayersPruning"
    assert {"random", "last-layers"} <= set(METHODS.names())


def test_a_broken_plugin_is_reported_without_breaking_the_others(installed_plugin, tmp_path):
    dist = installed_plugin / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[bench.methods]\nbroken = no_such_module:Thing\n")
    try:
        METHODS.refresh()
        assert {"random", "last-layers"} <= set(METHODS.names())
        assert "broken" in METHODS.failures()
        with pytest.raises(PluginLoadError, match="broken-plugin 0.1.*ModuleNotFoundError"):
            METHODS.get("broken")
    finally:
        for f in dist.iterdir():
            f.unlink()
        dist.rmdir()
        METHODS.refresh()

