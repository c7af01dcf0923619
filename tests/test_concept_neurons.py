"""Concept-neuron pruning on a tiny BERT with one MLP unit wired to fire on one token."""

import pytest
import torch

from bench.api.method import UnlearnContext
from bench.core.errors import BenchError
from bench.core.plugins import METHODS
from bench.methods.concept_neurons import ConceptNeuronOptions
from bench.neurons.units import unit_space
from tests.conftest import WIRED, concept_data, tiny_model, wired_bert, word_tokenizer


def context(model, data, k=3):
    return UnlearnContext(space=unit_space(model, "mlp"), concept=data, fraction=None, k=k, seed=0, batch_size=8,
                          device=torch.device("cpu"))


@pytest.mark.parametrize("ranker", ["raw", "standardized", "probe"])
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
    for ranker in ("raw", "standardized", "probe"):
        method = METHODS.get("concept-neurons")(ConceptNeuronOptions(ranker=ranker))
        with pytest.raises(BenchError, match="no (tokens|concept tokens)"):
            method.unlearn(model, context(model, concept_data(with_concept=False)))


def test_the_base_statistics_are_streamed_once_and_shared(monkeypatch):
    import bench.api.method

    calls = []
    real = bench.api.method.collect_unit_statistics
    monkeypatch.setattr(bench.api.method, "collect_unit_statistics",
                        lambda *a, **kw: calls.append(kw.get("top_k")) or real(*a, **kw))
    model = wired_bert()
    ctx = context(model, concept_data())
    with_hats = ctx.concept_statistics(model, top_k=5)  # e.g. the analysis snapshot of the base model
    METHODS.get("concept-neurons")().unlearn(model, ctx)  # the probeless ranking reads the same statistics
    assert calls == [5]
    assert ctx.concept_statistics(model) is with_hats


def test_probe_weight_ties_are_broken_by_salience_not_position():
    from bench.methods.concept_neurons import by_weight_then_salience

    weight = torch.tensor([[0.0, 0.0, 0.5], [0.0, 0.9, 0.0]])
    salience = torch.tensor([[0.1, 0.3, 0.0], [0.7, 0.0, 0.2]])
    order = torch.argsort(-by_weight_then_salience(weight, salience).flatten()).tolist()
    # by weight: (1,1) 0.9, (0,2) 0.5; then the zero-weight units by salience: (1,0), (0,1), (1,2), (0,0)
    assert order == [4, 2, 3, 1, 5, 0]


SINK, CONCEPT_UNIT = (1, 7), (1, 5)


def planted_llama(concept_id: int):
    """A tiny random Llama with two planted MLP units in layer 1: (1, 7) is an attention-sink unit, 3,000 at
    the first position of every sequence and untouched elsewhere; (1, 5) fires (+4) on one concept token."""
    model = tiny_model("llama")
    seen = {}
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.update(ids=kwargs["input_ids"]), with_kwargs=True)

    def plant(module, args):
        acts = args[0].clone()
        acts[:, 0, SINK[1]] += 3000.0
        acts[..., CONCEPT_UNIT[1]] += 4.0 * (seen["ids"] == concept_id).to(acts.dtype)
        return (acts, *args[1:])

    model.model.layers[1].mlp.down_proj.register_forward_pre_hook(plant)  # before any hook the harness adds
    return model


def sentences_with_the_concept_first():
    """Concept data whose concept word often opens the text: without the fix, the first position (the sink)
    is labelled concept far more often than other, and the raw ranking in activation units measures that."""
    texts = ["cat sat on the mat", "cat ran to a park", "the dog sat on a big mat", "a small dog ran to the house",
             "the big house", "cat sat", "a dog ran on the mat", "the small park", "cat saw the big cat",
             "a small cat sat", "cat ran to the cat"] * 3
    spans = [[(i, i + 3) for i in range(len(t)) if t.startswith("cat", i)] for t in texts]
    return texts, spans


@pytest.mark.parametrize("bos", [False, True])
@pytest.mark.parametrize("ranker", ["raw", "standardized"])
def test_a_massive_first_position_unit_is_not_ranked_but_a_planted_concept_unit_is_first(ranker, bos):
    import dataclasses

    from bench.neurons.activations import collect_unit_statistics
    from bench.neurons.ranking import probeless_scores
    from bench.tasks.causal_lm import span_labelled

    tokenizer = word_tokenizer()
    if bos:
        tokenizer.add_special_tokens({"bos_token": "w62"})
    model = planted_llama(tokenizer.convert_tokens_to_ids("cat"))
    texts, spans = sentences_with_the_concept_first()
    data = span_labelled(tokenizer, texts, spans, 16, ("other", "cat"))
    assert (data.data.examples[0]["labels"][0] == -100) == bos  # the BOS token takes the first position
    ctx = context(model, data, k=3)
    unlearned = METHODS.get("concept-neurons")(ConceptNeuronOptions(ranker=ranker)).unlearn(model, ctx)
    ranking = torch.argsort(-unlearned.scores.flatten()).tolist()
    assert divmod(ranking[0], ctx.space.width) == CONCEPT_UNIT
    assert not unlearned.mask.pruned[SINK]

    # What the fix removes: counted, the sink position makes the raw ranking pick the sink unit first.
    blind = dataclasses.replace(ctx.space, family=dataclasses.replace(ctx.space.family, causal=False))
    counted = collect_unit_statistics(model, blind, data.data.loader(8), n_labels=2)
    if not bos:
        assert divmod(int(probeless_scores(counted.label_means, 1).flatten().argmax()), ctx.space.width) == SINK
