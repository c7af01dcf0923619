"""The metric definitions of docs/design.md against hand-worked numbers."""

import math

import pytest

from bench.api.metrics import (
    aurc,
    collateral,
    collateral_by_metric,
    forgetting,
    recovery,
    recovery_curve,
    relative_drop,
    rt90,
    summarize,
)


def test_forgetting_is_the_relative_drop_of_the_target():
    assert forgetting(0.8, 0.2) == pytest.approx(0.75)
    assert forgetting(0.8, 0.8) == 0.0
    assert forgetting(0.8, 1.0) == pytest.approx(-0.25)  # it got better: negative forgetting
    assert forgetting(0.0, 0.0) is None  # nothing to forget is undefined, not "0% forgotten"


def test_relative_drop_respects_direction():
    assert relative_drop(0.5, 0.4) == pytest.approx(0.2)
    # perplexity 10 -> 12 is a 20% deterioration of a lower-is-better metric
    assert relative_drop(10.0, 12.0, higher_is_better=False) == pytest.approx(0.2)


def test_collateral_is_per_retain_metric_and_its_headline_the_worst_an_undefined_one_undefined():
    base = {"a": 0.5, "b": 0.8, "nll": 3.0}
    after = {"a": 0.4, "b": 0.8, "nll": 3.3}
    drops = collateral_by_metric(base, after, {"a": True, "b": True, "nll": False})
    assert drops == pytest.approx({"a": 0.2, "b": 0.0, "nll": 0.1})  # a loss's rise counts as damage
    assert collateral(drops) == pytest.approx(0.2)
    assert collateral(collateral_by_metric({"c": 0.0}, {"c": 0.1}, {"c": True})) is None
    assert collateral(collateral_by_metric({"c": None}, {"c": 0.1}, {"c": True})) is None


def test_recovery_curve_rt90_and_aurc_by_hand():
    # base 0.8, unlearned 0.2: r = (m - 0.2) / 0.6
    curve = recovery_curve([0, 3, 15], [0.2, 0.5, 0.8], 0.8, 0.2)
    assert [r for _, r in curve] == pytest.approx([0.0, 0.5, 1.0])
    assert rt90(curve) == 15
    # x = log(1 + step) = 0, log 4, log 16 = 0, 2 ln2, 4 ln2 ; trapezoids: 2ln2*(0+.5)/2 + 2ln2*(.5+1)/2 = 2 ln2
    assert aurc(curve) == pytest.approx(2 * math.log(2) / (4 * math.log(2)))  # = 0.5


def test_aurc_clips_r_to_the_unit_interval_and_rt90_may_never_happen():
    curve = [(0, 0.0), (3, -0.5), (15, 1.5)]
    # clipped: 0, 0, 1 -> second trapezoid only: 2ln2 * 0.5 over 4ln2
    assert aurc(curve) == pytest.approx(0.25)
    assert rt90([(0, 0.0), (4, 0.5), (16, 0.89)]) is None


def test_undefined_recovery_when_nothing_was_forgotten():
    assert recovery(0.5, 0.7, 0.7) is None
    assert recovery(0.05, 0.10, 0.11) is None  # pruning raised the concept: "recovery" has no meaning
    assert aurc([(0, None), (4, None)]) is None


def test_summarize_reports_every_headline_number():
    base = {"f1/loc": 0.8, "f1/per": 0.6}
    unlearned = {"f1/loc": 0.2, "f1/per": 0.3}
    relearn = [(0, unlearned), (3, {"f1/loc": 0.5, "f1/per": 0.5}), (15, {"f1/loc": 0.8, "f1/per": 0.6})]
    s = summarize("f1/loc", {"f1/per": True}, base, unlearned, relearn)
    assert s.forgetting == pytest.approx(0.75)
    assert s.collateral == pytest.approx(0.5)
    assert s.rt90 == 15
    assert s.aurc == pytest.approx(0.5) and s.resistance == pytest.approx(0.5)
