"""Mean ± SD over seeds, per stage, against hand-computed values."""

import pytest

from bench.api.record import SCHEMA_VERSION, Record, StageScores
from bench.results.statistics import per_stage, stat, summary_stats


def record(seed, base, pruned, relearned, forgetting):
    metrics = [{"name": "f1/LOC", "role": "target", "higher_is_better": True},
               {"name": "f1/PER", "role": "retain", "higher_is_better": True},
               {"name": "f1/ORG", "role": "retain", "higher_is_better": True}]
    stages = [StageScores("base", 0, 0.0, {"f1/LOC": base, "f1/PER": 0.6, "f1/ORG": 0.4}, 1.0),
              StageScores("unlearned", 0, 0.0, {"f1/LOC": pruned, "f1/PER": 0.5, "f1/ORG": 0.3}, 1.0),
              StageScores("relearn", 16, 0.5, {"f1/LOC": relearned, "f1/PER": 0.6, "f1/ORG": 0.2}, 1.0)]
    summary = {"target": "f1/LOC", "forgetting": forgetting, "collateral": None, "rt90": None, "aurc": 0.5,
               "resistance": 0.5}
    return Record(SCHEMA_VERSION, f"run{seed}", "", {"seed": seed}, {"name": "m"}, {"name": "t", "concept": "LOC"},
                  {"ref": "x"}, metrics, {"k": 1, "total": 2, "space": "mlp"}, stages, summary, {})


def test_mean_and_sample_sd_per_stage():
    rows = per_stage([record(0, 0.8, 0.2, 0.6, 0.75), record(1, 0.6, 0.4, 0.4, 1 / 3)])
    assert [(stage, step) for stage, step, _, _ in rows] == [("base", 0), ("unlearned", 0), ("relearn", 16)]
    base_target, base_retain = rows[0][2], rows[0][3]
    assert base_target.mean == pytest.approx(0.7) and base_target.sd == pytest.approx(0.1414, abs=1e-4)
    assert base_retain.mean == pytest.approx(0.5) and base_retain.sd == pytest.approx(0.0)
    # 95% CI half-width: t(0.975, 1 df) = 12.706 times SD / sqrt(2)
    assert rows[1][2].ci95 == pytest.approx(12.706 * 0.1414 / 2 ** 0.5, rel=1e-3)
    assert str(rows[1][2]) == "0.300 ± 1.271"
    summary = summary_stats([record(0, 0.8, 0.2, 0.6, 0.75), record(1, 0.6, 0.4, 0.4, 1 / 3)])
    assert summary["forgetting"].mean == pytest.approx((0.75 + 1 / 3) / 2)
    assert str(summary["rt90"]) == "–"


def test_a_single_seed_has_no_sd_and_undefined_values_are_skipped():
    assert str(stat([0.5])) == "0.500" and stat([0.5]).sd is None
    assert stat([None, 0.2, 0.4]).n == 2


def test_the_confidence_interval_uses_students_t_for_few_seeds():
    three = stat([1.0, 2.0, 3.0])
    assert three.sd == pytest.approx(1.0)
    assert three.ci95 == pytest.approx(4.3027 / 3 ** 0.5, rel=1e-4)
    assert (three.low, three.high) == pytest.approx((2 - 2.4841, 2 + 2.4841), rel=1e-4)
    many = stat([float(i % 2) for i in range(1000)])
    assert many.ci95 == pytest.approx(1.962 * many.sd / 1000 ** 0.5, rel=1e-3)  # t tends to the normal 1.96
