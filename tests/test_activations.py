"""Streaming unit statistics against brute force over the full activations."""

import pytest
import torch

from bench.neurons.activations import collect_unit_statistics
from bench.neurons.units import unit_space
from tests.conftest import tiny_model


def labelled_batches(n_batches=4, batch=3, length=6, n_labels=3):
    g = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(n_batches):
        ids = torch.randint(2, 64, (batch, length), generator=g)
        mask = torch.ones_like(ids)
        mask[0, -2:] = 0  # padding
        labels = torch.randint(0, n_labels, (batch, length), generator=g)
        labels[mask == 0] = -100
        labels[:, 0] = -100  # a "special token"
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return batches


def brute_force(model, space, batches):
    acts, labels, ids = [], [], []
    store = {}

    def keep(layer, a):
        store.setdefault(layer, []).append(a.detach().reshape(-1, a.shape[-1]))

    with torch.no_grad(), space.hooked(model, keep):
        for b in batches:
            model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
            labels.append(b["labels"].reshape(-1))
            ids.append(b["input_ids"].reshape(-1))
    labels, ids = torch.cat(labels), torch.cat(ids)
    valid = labels != -100
    acts = torch.stack([torch.cat(store[layer])[valid] for layer in range(space.n_layers)])  # [L, N, U]
    return acts, labels[valid], ids[valid]


@pytest.mark.parametrize("family,space_name", [("bert", "mlp"), ("gpt2", "mlp"), ("llama", "hidden")])
def test_label_means_match_brute_force(family, space_name):
    model = tiny_model(family)
    space = unit_space(model, space_name)
    batches = labelled_batches()
    stats = collect_unit_statistics(model, space, batches, n_labels=3)
    acts, labels, _ = brute_force(model, space, batches)
    for label in range(3):
        expected = acts[:, labels == label].double().mean(dim=1)
        torch.testing.assert_close(stats.label_means[:, label], expected.float(), rtol=1e-5, atol=1e-6)
        variance = acts[:, labels == label].double().var(dim=1, unbiased=False)
        torch.testing.assert_close(stats.label_vars[:, label], variance.float(), rtol=1e-4, atol=1e-6)
        assert stats.label_counts[label] == (labels == label).sum()
    assert stats.tokens == labels.numel()


def test_top_k_tokens_match_brute_force():
    model = tiny_model("bert")
    space = unit_space(model, "mlp")
    batches = labelled_batches(n_batches=5)
    stats = collect_unit_statistics(model, space, batches, n_labels=3, top_k=4)
    acts, _, ids = brute_force(model, space, batches)
    values, rows = acts.topk(4, dim=1)
    torch.testing.assert_close(stats.top_values, values)
    assert torch.equal(stats.top_token_ids, ids[rows])


def test_unlabelled_batches_count_every_attended_token_under_label_zero():
    model = tiny_model("bert")
    space = unit_space(model, "mlp")
    batches = [{k: v for k, v in b.items() if k != "labels"} for b in labelled_batches(n_batches=2)]
    stats = collect_unit_statistics(model, space, batches)
    assert stats.tokens == sum(int(b["attention_mask"].sum()) for b in batches)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_causal_models_first_position_is_never_counted(family):
    """The attention sink: whatever its label, the first attended position of each sequence is skipped."""
    model = tiny_model(family)
    space = unit_space(model, "mlp")
    batches = labelled_batches(n_batches=2)
    for b in batches:
        b["labels"][:, 0] = 1  # label the first positions, as concept data without a BOS token once did
        b["attention_mask"][1, :2] = 0  # and left-pad one row: its first attended position is 2
        b["labels"][1, :2] = -100
    stats = collect_unit_statistics(model, space, batches, n_labels=3)
    expected = []
    for b in batches:
        labels = b["labels"].clone()
        labels[0, 0] = labels[1, 2] = labels[2, 0] = -100
        expected.append({**b, "labels": labels})
    acts, labels, _ = brute_force(model, space, expected)
    assert stats.tokens == labels.numel()
    torch.testing.assert_close(stats.label_means[:, 1], acts[:, labels == 1].double().mean(dim=1).float(),
                               rtol=1e-5, atol=1e-6)


def test_a_label_without_tokens_has_nan_means_not_zeros():
    model = tiny_model("bert")
    space = unit_space(model, "mlp")
    stats = collect_unit_statistics(model, space, labelled_batches(n_labels=2), n_labels=3)
    assert torch.isnan(stats.label_means[:, 2]).all()
    assert not torch.isnan(stats.label_means[:, :2]).any()
