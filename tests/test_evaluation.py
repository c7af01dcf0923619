"""Evaluation uncertainty: metrics from per-example sums, the bootstrap against hand-worked cases, pairing
between stages, and recovery that is undefined when forgetting is inside the evaluation noise."""

import numpy as np
import pytest

from bench.api.evaluation import Evaluation, Statistic, bootstrap_weights, interval
from bench.harness.uncertainty import run_uncertainty

ACCURACY = {"accuracy": Statistic("questions", "ratio", ("correct", "asked"))}


def questions(correct):
    return Evaluation({"questions": {"correct": [float(c) for c in correct], "asked": [1.0] * len(correct)}}, ACCURACY)


def test_metrics_are_ratios_of_sums_and_an_empty_denominator_is_undefined_not_zero():
    f1 = Statistic("sentences", "f1", ("tp", "pred", "gold"))
    e = Evaluation({"sentences": {"tp": [1, 0, 2], "pred": [2, 1, 2], "gold": [1, 1, 3]}}, {"f1": f1})
    assert e.scores() == {"f1": pytest.approx(2 * 3 / (5 + 5))}
    nothing = Evaluation({"sentences": {"tp": [0, 0], "pred": [0, 0], "gold": [0, 0]}}, {"f1": f1})
    assert nothing.scores() == {"f1": None}
    ppl = Statistic("windows", "exp_ratio", ("nll", "tokens"))
    assert Evaluation({"windows": {"nll": [2.0, 4.0], "tokens": [2, 2]}}, {"ppl": ppl}).scores()["ppl"] == pytest.approx(np.exp(1.5))


def test_support_is_what_a_metric_is_computed_on_not_the_rows_resampled():
    # Four questions, two of category V: V's accuracy is computed on 2 of the 4 resampled rows. An F1's
    # support is its gold entities, an NLL's its tokens.
    by_category = {"accuracy/V": Statistic("questions", "ratio", ("correct/V", "asked/V")),
                   "f1": Statistic("questions", "f1", ("tp", "pred", "gold")),
                   "nll": Statistic("questions", "ratio", ("nll", "tokens"))}
    e = Evaluation({"questions": {"correct/V": [1, 0, 0, 0], "asked/V": [1, 1, 0, 0], "tp": [0, 1, 1, 0],
                                  "pred": [1, 1, 1, 0], "gold": [0, 2, 1, 0], "nll": [3.0, 2, 1, 1],
                                  "tokens": [7, 5, 6, 2]}}, by_category)
    assert e.metric_sizes() == {"accuracy/V": 4, "f1": 4, "nll": 4}
    assert e.metric_support() == {"accuracy/V": 2, "f1": 3, "nll": 20}


def test_the_bootstrap_interval_of_two_examples_is_the_hand_worked_one():
    # Resampling [0, 1] with replacement gives a mean of 0 (1/4), 0.5 (1/2) or 1 (1/4): the 2.5th and
    # 97.5th percentiles are 0 and 1.
    e = questions([0, 1])
    values = e.resampled(bootstrap_weights(e.sizes(), 4000, seed=0))["accuracy"]
    assert interval(values) == (0.0, 1.0)
    assert np.mean(values == 0.5) == pytest.approx(0.5, abs=0.03) and np.mean(values == 0.0) == pytest.approx(0.25, abs=0.03)


def test_the_interval_of_a_proportion_matches_the_normal_approximation():
    e = questions([1] * 90 + [0] * 30)  # 0.75 on 120 questions: half-width 1.96 * sqrt(.75 * .25 / 120) = 0.077
    low, high = interval(e.resampled(bootstrap_weights(e.sizes(), 4000, seed=1))["accuracy"])
    assert (high - low) / 2 == pytest.approx(1.96 * np.sqrt(0.75 * 0.25 / 120), abs=0.01)


def relearned_run(base, unlearned, relearn):
    stages = [("base", 0), ("unlearned", 0)] + [("relearn", s) for s, _ in relearn]
    evaluations = [questions(base), questions(unlearned)] + [questions(c) for _, c in relearn]
    evaluations[2] = evaluations[1]  # relearning step 0 is the unlearned model
    return run_uncertainty(evaluations, stages, "accuracy", {}, replicates=500)


def test_pairing_makes_identical_stages_differ_by_exactly_zero():
    answers = [1, 0, 1, 1, 0, 1] * 10
    same = relearned_run(answers, answers, [(0, answers), (4, answers)])
    assert same.summary_intervals["forgetting"] == (0.0, 0.0)  # unpaired resampling would give a wide interval
    assert not same.forgetting_resolved


def test_forgetting_inside_the_evaluation_noise_leaves_recovery_undefined():
    base = [1] * 50 + [0] * 10
    barely = [1] * 48 + [0] * 12  # 2 of 60 answers lost: inside the noise
    noisy = relearned_run(base, barely, [(0, barely), (4, base)])
    assert not noisy.forgetting_resolved
    assert noisy.summary_intervals["recovery@4"] is None and noisy.summary_intervals["aurc"] is None
    gone = [0] * 60
    clear = relearned_run(base, gone, [(0, gone), (4, [1] * 25 + [0] * 35)])
    assert clear.forgetting_resolved
    low, high = clear.summary_intervals["recovery@4"]
    assert low < 0.5 < high and clear.summary_intervals["forgetting"][0] > 0.8
