"""The architecture table and unit spaces, on tiny random models of every supported family."""

import pytest
import torch

from bench.core.errors import UnknownNameError
from bench.neurons.units import unit_space
from tests.conftest import FAMILIES, recorder, tiny_batch, tiny_model


@pytest.mark.parametrize("family", FAMILIES)
def test_mlp_space_addresses_every_mlp_neuron(family):
    model = tiny_model(family)
    space = unit_space(model, "mlp")
    assert space.shape == (2, 24)
    assert space.total == 48
    seen = {}

    def record(layer, acts):
        seen[layer] = acts.shape

    with space.hooked(model, record):
        model(**tiny_batch())
    assert seen == {0: torch.Size([3, 7, 24]), 1: torch.Size([3, 7, 24])}


@pytest.mark.parametrize("family", FAMILIES)
def test_hidden_space_addresses_block_outputs(family):
    model = tiny_model(family)
    space = unit_space(model, "hidden")
    assert space.shape == (2, 16)
    seen = {}
    with space.hooked(model, recorder(seen, shape_only=True)):
        model(**tiny_batch())
    assert seen == {0: torch.Size([3, 7, 16]), 1: torch.Size([3, 7, 16])}


@pytest.mark.parametrize("family", FAMILIES)
def test_unit_weights_index_the_same_neurons_as_the_activations(family):
    """Zeroing one unit's weights (from the table) makes exactly that activation zero in every position."""
    model = tiny_model(family)
    space = unit_space(model, "mlp")
    with torch.no_grad():
        for param, dim in space.unit_weights(model, 1):
            param.index_fill_(dim, torch.tensor([5]), 0.0)
    seen = {}
    with space.hooked(model, recorder(seen)):
        model(**tiny_batch())
    assert torch.all(seen[1][..., 5] == 0)
    # The others live on (OPT's ReLU is exactly 0 at some positions by itself, hence "any").
    assert torch.any(seen[1][..., 4] != 0)
    assert torch.any(seen[0][..., 5] != 0)


@pytest.mark.parametrize("family", FAMILIES)
def test_hooks_are_removed_after_the_block_even_on_error(family):
    model = tiny_model(family)
    space = unit_space(model, "mlp")
    before = sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())
    with pytest.raises(RuntimeError):
        with space.hooked(model, lambda layer, acts: None):
            raise RuntimeError("boom")
    after = sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())
    assert before == after


def test_unknown_unit_space_and_architecture_list_the_choices():
    model = tiny_model("bert")
    with pytest.raises(UnknownNameError, match="choices: hidden, mlp"):
        unit_space(model, "attention")
    model.config.model_type = "mamba"
    with pytest.raises(UnknownNameError, match=r"unknown architecture \(config.model_type\) 'mamba'.*"
                                               r"Supported families: bert \(bert, roberta.*architectures.py:FAMILIES"):
        unit_space(model, "mlp")


def test_a_family_whose_mlp_does_not_fit_the_table_says_why():
    with pytest.raises(UnknownNameError, match="'phi3'.*fuses the gate and up projections"):
        unit_space(tiny_model("phi3"), "mlp")


def test_every_model_type_in_the_table_is_tested_on_a_tiny_model():
    """A row added to the table without a tiny model in the tests fails here."""
    from bench.neurons.architectures import FAMILIES as TABLE

    tested = {tiny_model(name).config.model_type for name in FAMILIES}
    assert {t for family in TABLE for t in family.model_types} == tested


def test_weights_fingerprint_ignores_the_fresh_head_and_sees_every_weight():
    from bench.models.loading import weights_fingerprint

    a, b = tiny_model("bert", seed=0), tiny_model("bert", seed=0)
    for model in (a, b):
        model.base_model.register_buffer("scalar", torch.tensor(1.0))  # 0-dim tensors hash too
    with torch.no_grad():
        b.classifier.weight.add_(1.0)  # a different task head: same pretrained body
    assert weights_fingerprint(a) == weights_fingerprint(b)
    with torch.no_grad():
        b.base_model.encoder.layer[1].output.dense.weight[0, 0] += 1e-3
    assert weights_fingerprint(a) != weights_fingerprint(b)
