"""Probeless ranking against brute-force NumPy, and concept saliency against a hand-worked example."""

import numpy as np
import pytest
import torch

from bench.core.errors import BenchError
from bench.neurons.ranking import (
    concept_saliency,
    global_ranks,
    mean_saliency_per_layer,
    probeless_scores,
    salient_share_per_layer,
    standardized_scores,
)


def test_probeless_ranking_matches_brute_force_numpy():
    rng = np.random.default_rng(0)
    layers, width, labels, tokens = 3, 11, 4, 500
    acts = rng.normal(size=(layers, tokens, width))
    token_labels = rng.integers(0, labels, size=tokens)
    # Brute force: q(z) = mean over tokens labelled z; r(c) = sum_{z != c} |q(c) - q(z)|, unit by unit.
    q = np.stack([acts[:, token_labels == z].mean(axis=1) for z in range(labels)], axis=1)  # [L, Z, U]
    for concept in range(labels):
        expected = np.zeros((layers, width))
        for layer in range(layers):
            for unit in range(width):
                expected[layer, unit] = sum(abs(q[layer, concept, unit] - q[layer, z, unit])
                                            for z in range(labels) if z != concept)
        got = probeless_scores(torch.tensor(q, dtype=torch.float32), concept)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_labels_without_tokens_are_skipped_and_a_missing_concept_is_an_error():
    means = torch.tensor([[[1.0, 2.0], [3.0, 0.0], [float("nan"), float("nan")]]])  # [1 layer, 3 labels, 2 units]
    assert probeless_scores(means, 1).tolist() == [[2.0, 2.0]]
    with pytest.raises(BenchError, match="no tokens"):
        probeless_scores(means, 2)


def test_the_standardized_ranking_divides_by_the_pooled_within_label_spread_by_hand():
    # Unit 0: labels at 0 and 10 with spread 100 (a large unit); unit 1: at 0 and 1 with spread 0.1; unit 2 never varies.
    other = np.array([[-100.0, 100.0], [-0.1, 0.1], [3.0, 3.0]])  # two tokens per label and unit
    concept = np.array([[-90.0, 110.0], [0.9, 1.1], [3.0, 3.0]])
    means = torch.tensor(np.array([[other.mean(1), concept.mean(1)]]), dtype=torch.float32)  # [layer, label, unit]
    variances = torch.tensor(np.array([[other.var(1), concept.var(1)]]), dtype=torch.float32)
    counts = torch.tensor([2.0, 2.0])
    # Pooled variance: (2 * 100^2 + 2 * 100^2) / (4 - 2) = 20000 for unit 0, 0.02 for unit 1.
    expected = [10 / np.sqrt(20000), 1 / np.sqrt(0.02), 0.0]
    got = standardized_scores(means, variances, counts, concept=1)
    np.testing.assert_allclose(got[0].numpy(), expected, rtol=1e-5)
    assert probeless_scores(means, 1)[0].argmax() == 0 and got[0].argmax() == 1  # Eq. 1 prefers the large unit


def test_concept_saliency_by_hand():
    # 2 layers x 150 units = 300 units -> 3 groups of 100: saliency 1, 2/3, 1/3 by global rank.
    scores = torch.zeros(2, 150)
    scores[1, :100] = torch.arange(100, 0, -1).float() + 1000  # the top 100 units all sit in layer 1
    scores[0, :100] = torch.arange(100, 0, -1).float() + 500  # the next 100 in layer 0
    saliency = concept_saliency(scores)
    assert torch.all(saliency[1, :100] == 1.0)
    assert torch.allclose(saliency[0, :100], torch.tensor(2 / 3))
    assert torch.allclose(saliency[:, 100:], torch.tensor(1 / 3))
    assert global_ranks(scores)[1, 0] == 0 and global_ranks(scores)[0, 0] == 100
    # Per layer: layer 0 has 100/150 units above 0.5, layer 1 too.
    assert salient_share_per_layer(saliency).tolist() == pytest.approx([2 / 3, 2 / 3])
    # Pruned units leave the denominator: prune layer 1's 50 least salient units -> 100/100 salient.
    pruned = torch.zeros(2, 150, dtype=torch.bool)
    pruned[1, 100:] = True
    assert salient_share_per_layer(saliency, pruned).tolist() == pytest.approx([2 / 3, 1.0])
    assert mean_saliency_per_layer(saliency, pruned).tolist() == pytest.approx([(100 * 2 / 3 + 50 / 3) / 150, 1.0])


def test_pruned_units_are_left_out_of_the_ranking_itself():
    # 1 layer x 300 units, the top 150 pruned: the 150 survivors form 2 groups (1.0 and 0.5), pruned get 0.
    scores = torch.arange(300, 0, -1).float().view(1, 300)
    pruned = torch.zeros(1, 300, dtype=torch.bool)
    pruned[0, :150] = True
    saliency = concept_saliency(scores, exclude=pruned)
    assert torch.all(saliency[0, :150] == 0)
    assert torch.all(saliency[0, 150:250] == 1.0) and torch.all(saliency[0, 250:] == 0.5)
    assert salient_share_per_layer(saliency, pruned).tolist() == [pytest.approx(100 / 150)]
