"""Concept-neuron pruning on a tiny BERT with one MLP unit wired to fire on one token."""

import pytest
import torch

from bench.data import ConceptData, Examples
from bench.errors import BenchError
from bench.method import METHODS, UnlearnContext
from bench.units import unit_space
from methods.concept_neurons import ConceptNeuronOptions
from tests.conftest import tiny_model

CONCEPT_TOKEN = 9
WIRED = (0, 5)  # layer 0, MLP unit 5


def wired_bert():
    """Token 9's embedding points along e0; unit (0, 5) reads e0 with a large weight, so it fires on it."""
    model = tiny_model("bert")
    with torch.no_grad():
        embedding = model.bert.embeddings.word_embeddings.weight
        embedding[CONCEPT_TOKEN] = 0.0
        embedding[CONCEPT_TOKEN, 0] = 8.0
        dense = model.bert.encoder.layer[0].intermediate.dense
        dense.weight[5] = 0.0
        dense.weight[5, 0] = 6.0
        dense.bias[5] = -2.0
    return model


def concept_data(with_concept=True):
    g = torch.Generator().manual_seed(0)
    examples = []
    for i in range(40):
        ids = torch.randint(10, 64, (10,), generator=g)
        if with_concept:
            ids[i % 10] = CONCEPT_TOKEN
        examples.append({"input_ids": ids.tolist(), "labels": [int(t == CONCEPT_TOKEN) for t in ids.tolist()]})

    def collate(rows):
        ids = torch.tensor([r["input_ids"] for r in rows])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([r["labels"] for r in rows])}

    return ConceptData(Examples(examples, collate), label_names=("other", "token-9"))


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
