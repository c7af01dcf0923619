"""Mean ± SD over seeds, per stage and for every figure a record alone defines, against hand-computed values."""

import pytest

from bench.results.leaderboard import seed_statistics
from bench.results.statistics import per_stage, stat
from tests.made_records import made_record


def record(seed, base, pruned, relearned):
    """A record of one seed: its stages as given, its summary what the metric definitions make of them."""
    return made_record("random", seed, base=base, unlearned=pruned, relearn=(pruned, relearned, relearned, relearned),
                       retain_base=0.6, retain_unlearned=0.5)


def test_mean_and_sample_sd_per_stage():
    records = [record(0, 0.8, 0.2, 0.6), record(1, 0.6, 0.4, 0.4)]
    rows = per_stage(records)
    assert [(stage, step) for stage, step, _, _ in rows] == [
        ("base", 0), ("unlearned", 0), ("relearn", 0), ("relearn", 4), ("relearn", 16), ("relearn", 64)]
    base_target, base_retain = rows[0][2], rows[0][3]
    assert base_target.mean == pytest.approx(0.7) and base_target.sd == pytest.approx(0.1414, abs=1e-4)
    assert base_retain.mean == pytest.approx(0.6) and base_retain.sd == pytest.approx(0.0)
    # 95% CI half-width: t(0.975, 1 df) = 12.706 times SD / sqrt(2)
    assert rows[1][2].ci95 == pytest.approx(12.706 * 0.1414 / 2 ** 0.5, rel=1e-3)
    assert str(rows[1][2]) == "0.300 ± 1.271"


def test_the_seeds_table_reports_the_leaderboards_own_columns():
    figures = seed_statistics([record(0, 0.8, 0.2, 0.6), record(1, 0.6, 0.4, 0.4)])
    assert list(figures) == ["forgetting", "resistance vs base", "attack moved", "collateral f1/person"]
    assert figures["forgetting"].mean == pytest.approx((0.75 + 1 / 3) / 2)  # (0.8-0.2)/0.8 and (0.6-0.4)/0.6
    assert figures["attack moved"].mean == pytest.approx((0.5 + 0.0) / 2)  # (0.6-0.2)/0.8 and (0.4-0.4)/0.6
    assert figures["collateral f1/person"].mean == pytest.approx(1 - 0.5 / 0.6)


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
