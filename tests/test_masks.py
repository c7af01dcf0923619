"""Masks: selection by budget, content hashes, and pruning that stays pruned (or regrows) under AdamW."""

import pytest
import torch

from bench.core.errors import BenchError
from bench.neurons.masks import (
    UnitMask,
    apply_mask,
    budget_to_k,
    materialised_state,
    select_top_k,
)
from bench.neurons.units import unit_space
from tests.conftest import FAMILIES, recorder, tiny_batch, tiny_model


def some_mask(space, units=((0, 3), (1, 0), (1, 23))):
    mask = torch.zeros(space.shape, dtype=torch.bool)
    for layer, index in units:
        mask[layer, index] = True
    return UnitMask(space=space.name, pruned=mask)


def captured(model, space, batch):
    seen = {}
    with space.hooked(model, recorder(seen)):
        model(**batch)
    return seen


def adamw_steps(model, n=3, weight_decay=0.1):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=weight_decay)
    model.train()
    for step in range(n):
        batch = tiny_batch(seed=step)
        out = model(**batch)
        loss = out.logits.float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    return optimizer


def unit_weight_slices(model, space, layer, index):
    return [param.detach().select(dim, index).clone() for param, dim in space.unit_weights(model, layer)]


@pytest.mark.parametrize("family", FAMILIES)
def test_pruned_unit_outputs_exactly_zero(family):
    model = tiny_model(family)
    space = unit_space(model, "mlp")
    mask = some_mask(space)
    with apply_mask(model, space, mask):
        acts = captured(model, space, tiny_batch())
    assert torch.all(acts[0][..., 3] == 0) and torch.all(acts[1][..., 0] == 0) and torch.all(acts[1][..., 23] == 0)
    assert torch.any(acts[0][..., 4] != 0)  # a unit not pruned lives on (ReLU is 0 at some positions by itself)


@pytest.mark.parametrize("family", FAMILIES)
def test_persistent_pruning_survives_adamw_with_weight_decay(family):
    model = tiny_model(family)
    space = unit_space(model, "mlp")
    mask = some_mask(space)
    alive_before = unit_weight_slices(model, space, 0, 4)
    with apply_mask(model, space, mask, "persistent"):
        optimizer = adamw_steps(model)
        acts = captured(model, space, tiny_batch(seed=9))
        for layer, index in ((0, 3), (1, 0), (1, 23)):
            for weights in unit_weight_slices(model, space, layer, index):
                assert torch.count_nonzero(weights) == 0
            assert torch.all(acts[layer][..., index] == 0)
        # AdamW's moments for pruned weights stay zero too, so nothing is waiting to push them off zero.
        for param, dim in space.unit_weights(model, 0):
            state = optimizer.state[param]
            assert torch.count_nonzero(state["exp_avg"].select(dim, 3)) == 0
    # ... while the units that were not pruned did train.
    alive_after = unit_weight_slices(model, space, 0, 4)
    assert any(not torch.equal(a, b) for a, b in zip(alive_before, alive_after))


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "opt"])
def test_regrow_silences_units_once_and_lets_them_relearn(family):
    model = tiny_model(family)
    space = unit_space(model, "mlp")
    mask = some_mask(space)
    with apply_mask(model, space, mask, "regrow"):
        silenced = captured(model, space, tiny_batch())
        assert torch.all(silenced[0][..., 3] == 0) and torch.all(silenced[1][..., 23] == 0)
        adamw_steps(model, weight_decay=0.0)
        revived = captured(model, space, tiny_batch(seed=9))
    assert torch.any(revived[0][..., 3] != 0)


def test_regrow_is_refused_where_the_activation_cannot_regrow_a_unit():
    """OPT's ReLU has zero derivative at 0: a silenced unit would stay silent, so 'regrow' would mean nothing."""
    model = tiny_model("opt")
    space = unit_space(model, "mlp")
    with pytest.raises(BenchError, match="cannot regrow opt MLP units: their ReLU"):
        with apply_mask(model, space, some_mask(space), "regrow"):
            pass


def test_a_unit_with_every_weight_zero_cannot_regrow():
    """Why `regrow` keeps the output weights: with all of them zero no gradient reaches the unit."""
    model = tiny_model("bert")
    space = unit_space(model, "mlp")
    with torch.no_grad():
        for param, dim in space.unit_weights(model, 0):
            param.select(dim, 3).zero_()
    adamw_steps(model, weight_decay=0.0)
    assert all(torch.count_nonzero(w) == 0 for w in unit_weight_slices(model, space, 0, 3))


def test_hidden_units_are_masked_by_hooks_and_hooks_leave_with_the_block():
    model = tiny_model("gpt2")
    space = unit_space(model, "hidden")
    mask = some_mask(space, ((0, 2), (1, 15)))
    with apply_mask(model, space, mask):
        inside = captured(model, space, tiny_batch())
    assert torch.all(inside[0][..., 2] == 0) and torch.all(inside[1][..., 15] == 0)
    after = captured(model, space, tiny_batch())
    assert torch.all(after[0][..., 2] != 0)
    with pytest.raises(BenchError, match="regrow"):
        with apply_mask(model, space, mask, "regrow"):
            pass


def test_mask_must_fit_the_space():
    model = tiny_model("bert")
    space = unit_space(model, "mlp")
    with pytest.raises(BenchError, match="does not fit"):
        with apply_mask(model, space, UnitMask("mlp", torch.zeros(2, 10, dtype=torch.bool))):
            pass


def test_budget_to_k():
    assert budget_to_k(100, fraction=0.5) == 50
    assert budget_to_k(100, fraction=1.0) == 100
    assert budget_to_k(100, fraction=0.001) == 1
    assert budget_to_k(100, k=7) == 7
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(BenchError, match=r"\(0, 1\]"):
            budget_to_k(100, fraction=bad)
    with pytest.raises(BenchError, match="between 1"):
        budget_to_k(100, k=101)
    with pytest.raises(BenchError, match="exactly one"):
        budget_to_k(100, fraction=0.5, k=3)


def test_select_top_k_is_deterministic_and_breaks_ties_by_position():
    scores = torch.tensor([[0.5, 0.9, 0.5], [0.9, 0.1, 0.5]])
    mask = select_top_k(scores, 3, "mlp")
    assert mask.pruned.tolist() == [[True, True, False], [True, False, False]]
    assert mask.k == 3 and mask.per_layer() == [2, 1]


def test_mask_hash_depends_on_content_and_survives_save_load(tmp_path):
    a = UnitMask("mlp", torch.tensor([[True, False], [False, False]]))
    b = UnitMask("mlp", torch.tensor([[False, True], [False, False]]))
    assert a.content_hash() != b.content_hash()
    assert a.content_hash() != UnitMask("hidden", a.pruned).content_hash()
    a.save(tmp_path / "m.safetensors")
    loaded = UnitMask.load(tmp_path / "m.safetensors")
    assert torch.equal(loaded.pruned, a.pruned) and loaded.content_hash() == a.content_hash()


@pytest.mark.parametrize("family", FAMILIES)
def test_a_mask_written_into_the_weights_computes_what_the_hooks_compute(family):
    """vLLM runs no Python hooks, so it samples from the materialised weights: a fresh copy of the model that
    loads them, with no hook at all, must give the logits of the hooked model, after relearning too."""
    model = tiny_model(family)
    space = unit_space(model, "mlp")
    mask = some_mask(space)
    batch = tiny_batch()
    with apply_mask(model, space, mask):
        adamw_steps(model)
        hooked = model(**batch).logits
        state = materialised_state(model, space, mask)
        # What the vLLM path snapshots is the model's own state: under a persistent mask it is already this.
        assert all(torch.equal(state[name], tensor) for name, tensor in model.state_dict().items())
    plain = tiny_model(family, seed=1)  # other weights: everything it computes comes from the state
    plain.load_state_dict(state)
    assert torch.equal(plain.eval()(**batch).logits, hooked)
    unmasked = tiny_model(family, seed=1)
    unmasked.load_state_dict(model.state_dict())
    with apply_mask(unmasked, space, some_mask(space, units=((0, 1),))):  # a different mask differs
        assert not torch.equal(unmasked(**batch).logits, hooked)


def test_a_hidden_space_mask_cannot_be_written_into_the_weights():
    model = tiny_model("gpt2")
    space = unit_space(model, "hidden")
    mask = UnitMask(space="hidden", pruned=torch.zeros(space.shape, dtype=torch.bool))
    with pytest.raises(BenchError, match="hooks only"):
        materialised_state(model, space, mask)
