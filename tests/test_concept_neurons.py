"""Concept-neuron pruning on a tiny BERT with one MLP unit wired to fire on one token."""

import pytest
import torch

from bench.errors import BenchError
from bench.method import METHODS, UnlearnContext
from bench.units import unit_space
from methods.concept_neurons import ConceptNeuronOptions
from tests.conftest import WIRED, concept_data, wired_bert

def context(model, data, k=3):
    return UnlearnContext(space=unit_space(model, "mlp"), concept=data, fraction=None, k=k, seed=0, batch_size=8,
                          device=torch.device("cpu"))


@pytest.mark.parametrize("ranker", ["probeless", "probe"])
def test_the_wired_unit_ranks_first_and_the_ranked_units_are_the_pruned_ones(ranker):
    model = wired_bert()
    method = METHODS.get("concept-neurons")(ConceptNeuronOptions(ranker=ranker))
    ctx = context(model, concept_data())
    unlearned = method.unlearn(model, ctx)
    scores = unlearned.scores
    assert divmod(int(scores.flatten().argmax()), ctx.space.width) == WIRED
    assert unlearned.mask.pruned[WIRED]
    top3 = set(torch.topk(scores.flatten(), 3).indices.tolist())
    assert set(unlearned.mask.pruned.flatten().nonzero().flatten().tolist()) == top3


def test_no_concept_tokens_is_a_clear_error():
    model = wired_bert()
    for ranker in ("probeless", "probe"):
        method = METHODS.get("concept-neurons")(ConceptNeuronOptions(ranker=ranker))
        with pytest.raises(BenchError, match="no (tokens|concept tokens)"):
            method.unlearn(model, context(model, concept_data(with_concept=False)))


def test_the_base_statistics_are_streamed_once_and_shared(monkeypatch):
    import bench.method

    calls = []
    real = bench.method.collect_unit_statistics
    monkeypatch.setattr(bench.method, "collect_unit_statistics",
                        lambda *a, **kw: calls.append(kw.get("top_k")) or real(*a, **kw))
    model = wired_bert()
    ctx = context(model, concept_data())
    with_hats = ctx.concept_statistics(model, top_k=5)  # e.g. the analysis snapshot of the base model
    METHODS.get("concept-neurons")().unlearn(model, ctx)  # the probeless ranking reads the same statistics
    assert calls == [5]
    assert ctx.concept_statistics(model) is with_hats


def test_probe_weight_ties_are_broken_by_salience_not_position():
    from methods.concept_neurons import by_weight_then_salience

    weight = torch.tensor([[0.0, 0.0, 0.5], [0.0, 0.9, 0.0]])
    salience = torch.tensor([[0.1, 0.3, 0.0], [0.7, 0.0, 0.2]])
    order = torch.argsort(-by_weight_then_salience(weight, salience).flatten()).tolist()
    # by weight: (1,1) 0.9, (0,2) 0.5; then the zero-weight units by salience: (1,0), (0,1), (1,2), (0,0)
    assert order == [4, 2, 3, 1, 5, 0]
