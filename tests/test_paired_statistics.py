"""Comparisons that can tell methods apart: differences taken at each seed with the evaluation examples resampled
jointly, replicates that are what actually varied, exact tests for accuracies on the same questions, verdicts
with a stated error rate that no random draw of the analysis can move, and bounds that hold on intervals."""

import math

import numpy as np
import pytest
from scipy import stats

from bench.results.inference import (
    censored_median,
    combine,
    detectable,
    holm,
    mcnemar,
    paired_accuracy_drop,
    seeds_to_detect,
)
from bench.results.leaderboard import build_boards
from bench.results.pages import markdown
from bench.results.paired import Resampler, forgetting, resolved
from bench.results.statistics import stat
from tests.made_records import made_record

NONE = [(0.8, 0.8, 0.85, 0.9), (0.8, 0.81, 0.86, 0.9), (0.8, 0.8, 0.84, 0.89)]
RANDOM = [(0.76, 0.78, 0.8, 0.8), (0.78, 0.79, 0.8, 0.82), (0.77, 0.8, 0.8, 0.81)]


def controls():
    return ([made_record("none", s, unlearned=0.8, relearn=c, retain_unlearned=0.9) for s, c in enumerate(NONE)] +
            [made_record("random", s, unlearned=c[0], relearn=c) for s, c in enumerate(RANDOM)])


def entry(board, method):
    return next(e for e in board.entries if e.method == method)


# --- paired beats overlapping ------------------------------------------------------------------------------

# The attack's strength varies a lot from seed to seed (data order), and it varies alike for every method at a
# seed; keyword keeps 0.04 more of the concept missing than snip at every seed and every step after the first.
SHARED = [(0.2, 0.25, 0.3, 0.4), (0.2, 0.45, 0.6, 0.7), (0.2, 0.3, 0.45, 0.5)]
BEHIND = [tuple(v if i == 0 else v - 0.04 for i, v in enumerate(curve)) for curve in SHARED]


def test_a_planted_difference_the_overlap_rule_misses_is_found_by_the_paired_test():
    records = controls()
    records += [made_record("snip", s, relearn=c) for s, c in enumerate(SHARED)]
    records += [made_record("keyword", s, relearn=c) for s, c in enumerate(BEHIND)]
    board = build_boards(records)[0]
    snip, keyword = entry(board, "snip"), entry(board, "keyword")
    # Unpaired, each score's interval over its seeds is wide (the seed effect), and the two overlap.
    a, b = stat(snip.values["score"]), stat(keyword.values["score"])
    assert a.low < b.high and b.low < a.high
    # Paired at each seed, the difference is 0.04 × (the curve's share after step 0) / 0.8 at every seed: what
    # varies is the evaluation noise alone, and the test separates them (Holm over the one pair).
    assert keyword.stats["score"].mean > snip.stats["score"].mean
    assert (keyword.rank, snip.rank) == (1, 2) and snip.leader_p < 0.05
    assert board.pair_tests == 1


# --- replicates are what varied -------------------------------------------------------------------------------

def test_an_entry_whose_seeds_change_nothing_is_one_replicate_with_an_interval_from_the_examples_alone():
    records = controls()
    records += [made_record("concept-neurons", s, unlearned=0.5, relearn=(0.5, 0.6, 0.7, 0.75), same_at_every_seed=True)
                for s in range(3)]
    board = build_boards(records)[0]
    forgot = entry(board, "concept-neurons").stats["forgetting"]
    assert (forgot.seeds, forgot.replicates, forgot.how) == (3, 1, "examples")
    # The interval is the bootstrap's over the 200 examples: (0.8 − 0.5) / 0.8 with the two stages' noise.
    draws = forgetting(Resampler().run(records[-1]))
    assert forgot.mean == pytest.approx(0.375)
    assert forgot.ci95 == pytest.approx(1.959964 * np.std(draws[1:], ddof=1))
    assert 0.01 < forgot.ci95 < 0.05  # not the ± 0 of three identical seeds, not a t over 2 degrees of freedom
    assert "(1 replicate)" in markdown(board)


def test_seeds_that_draw_their_own_evaluation_examples_do_not_get_the_evaluation_error_added_again():
    # The target's examples are sampled with the seed (toxicity's completions): the seeds' spread holds the
    # evaluation error, so the interval is Student's t over the seeds alone. The retain metric's examples are
    # the same at every seed: its interval adds their joint bootstrap.
    curves = [(0.2, 0.4, 0.6, 0.7), (0.25, 0.45, 0.6, 0.75), (0.15, 0.35, 0.55, 0.7)]
    records = [made_record("none", s, unlearned=0.8, relearn=c, retain_unlearned=0.9, seeded=True)
               for s, c in enumerate(NONE)]
    records += [made_record("grad-ascent", s, steps=16, unlearned=c[0], relearn=c, seeded=True,
                            retain_unlearned=0.85 + 0.01 * s) for s, c in enumerate(curves)]
    board = build_boards(records)[0]
    e = entry(board, "grad-ascent")
    for name in ("forgetting", "score"):
        seeds_only = stat(e.values[name])
        assert e.stats[name].how == "seeds" and e.stats[name].eval_se is None
        assert (e.stats[name].low, e.stats[name].high) == pytest.approx((seeds_only.low, seeds_only.high))
    assert e.stats["collateral/f1/person"].how == "seeds and examples" and e.stats["collateral/f1/person"].eval_se > 0


def test_combine_adds_a_shared_evaluation_error_with_satterthwaite_degrees_of_freedom():
    values, draws = [0.2, 0.3, 0.4], np.random.default_rng(0).normal(0.3, 0.05, 4000)
    crossed = combine(values, draws, crossed=True)
    seed_se = np.std(values, ddof=1) / math.sqrt(3)
    eval_se = np.std(draws, ddof=1)
    assert crossed.se == pytest.approx(math.hypot(seed_se, eval_se))
    assert crossed.df == pytest.approx(2 * crossed.se ** 4 / seed_se ** 4)
    assert crossed.ci95 == pytest.approx(stats.t.ppf(0.975, crossed.df) * crossed.se)
    nested = combine(values, draws, crossed=False)
    assert nested.eval_se is None and nested.ci95 == pytest.approx(4.3027 * seed_se, rel=1e-4)


# --- exact tests for accuracies -------------------------------------------------------------------------------

def test_mcnemar_on_a_small_table_is_the_exact_binomial_test_of_the_changed_questions():
    # 8 questions went right → wrong, 1 wrong → right: p = 2 · P(X ≤ 1), X ~ Binomial(9, 1/2) = 2 · 10 / 512.
    assert mcnemar(8, 1) == pytest.approx(20 / 512)
    assert mcnemar(3, 3) == pytest.approx(1.0) and mcnemar(0, 0) == 1.0
    drop = paired_accuracy_drop(8, 1, 40)
    assert drop.mean == pytest.approx(7 / 40) and drop.p == pytest.approx(20 / 512)
    # Clopper–Pearson at α/4 on each rate: [low(8) − high(1), high(8) − low(1)].
    low8, high8 = stats.beta.ppf(0.0125, 8, 33), stats.beta.ppf(0.9875, 9, 32)
    low1, high1 = stats.beta.ppf(0.0125, 1, 40), stats.beta.ppf(0.9875, 2, 39)
    assert (drop.low, drop.high) == pytest.approx((low8 - high1, high8 - low1))


def test_a_cell_with_no_change_shows_an_exact_upper_bound_never_plus_minus_zero():
    # No question of 40 changed: the rate of right → wrong is at most 1 − 0.0125^(1/40) = 0.104 (α/4 per side).
    none = paired_accuracy_drop(0, 0, 40, scale=1 / 0.7)
    assert none.mean == 0 and none.note == "no change"
    assert none.high == pytest.approx((1 - 0.0125 ** (1 / 40)) / 0.7)
    assert none.format() == f"0.000 (no change; ≤ {(1 - 0.0125 ** (1 / 40)) / 0.7:.3f})"
    assert "± 0.000" not in none.format()


def test_a_deterministic_accuracy_entry_gets_mcnemar_and_its_unchanged_retain_metric_an_upper_bound():
    # Accuracies on the same 200 questions: base 0.8, the pruned model 0.7 (20 right → wrong), the retain
    # accuracy unchanged at 0.9; the same mask at every seed (CBT's deterministic ranking).
    records = [made_record("none", s, unlearned=0.8, relearn=(0.8, 0.8, 0.8, 0.8), retain_unlearned=0.9, binary=True,
                           same_at_every_seed=True) for s in range(3)]
    records += [made_record("selective-pruning", s, unlearned=0.7, relearn=(0.7, 0.72, 0.75, 0.8), retain_unlearned=0.9,
                            binary=True, same_at_every_seed=True) for s in range(3)]
    board = build_boards(records)[0]
    e = entry(board, "selective-pruning")
    forgot = e.stats["forgetting"]
    assert forgot.how.startswith("exact") and forgot.p == pytest.approx(mcnemar(20, 0))
    assert forgot.mean == pytest.approx(0.125)
    retain = e.stats["collateral/f1/person"]
    assert retain.note == "no change" and retain.high == pytest.approx((1 - 0.0125 ** (1 / 200)) / 0.9)
    # Every seed gets the same verdict: identical runs are resolved alike.
    assert e.resolved in (0, 3)


# --- verdicts -------------------------------------------------------------------------------------------------

def test_verdicts_do_not_move_when_the_bootstrap_seed_does():
    records = controls()
    records += [made_record("snip", s, relearn=c) for s, c in enumerate(SHARED)]
    records += [made_record("keyword", s, relearn=c) for s, c in enumerate(BEHIND)]
    records += [made_record("concept-neurons", s, unlearned=0.74, relearn=(0.74, 0.78, 0.8, 0.82)) for s in range(3)]
    verdicts = []
    for seed in (1, 2, 3, 20261205):
        board = build_boards(records, resampler=Resampler(seed=seed))[0]
        verdicts.append({(e.method, e.budget): (e.rank, e.status.split(" (")[0]) for e in board.entries})
    assert all(v == verdicts[0] for v in verdicts)
    # And the board's own draw is fixed: two builds give the same intervals to the last digit.
    first, second = build_boards(records)[0], build_boards(records)[0]
    assert [e.stats["score"] for e in first.entries] == [e.stats["score"] for e in second.entries]


def test_identical_runs_get_one_verdict_whatever_their_own_bootstraps_found():
    # The stored summaries disagree (each run's bootstrap drew with its own seed); the board decides itself.
    runs = [made_record("concept-neurons", s, unlearned=0.78, relearn=(0.78,) * 4, same_at_every_seed=True)
            for s in range(3)]
    for i, record in enumerate(runs):
        object.__setattr__(record.summary, "forgetting_resolved", i == 0)
    resampler = Resampler()
    assert len({resolved(resampler.run(r)) for r in runs}) == 1


def test_holm_adjusts_step_down_and_keeps_the_order():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    assert holm({}) == {}


def test_a_collateral_interval_crossing_the_bound_is_not_within_the_bound():
    # Collateral 0.089, 0.078 and 0.111 over the seeds: the mean, 0.093, is under the 0.1 bound, but the upper end of
    # its interval is past it: the bound is not established and the entry is not ranked.
    records = controls()
    records += [made_record("concept-neurons", s, retain_unlearned=r) for s, r in enumerate((0.82, 0.83, 0.80))]
    e = entry(build_boards(records)[0], "concept-neurons")
    collateral = e.stats["collateral/f1/person"]
    assert collateral.mean < 0.1 < collateral.high
    assert e.rank is None and e.status.startswith("not ranked: within the collateral bound not established on f1/person")
    # The same method at a collateral whose whole interval is under the bound is ranked.
    records = controls() + [made_record("concept-neurons", s, retain_unlearned=0.86) for s in range(3)]
    assert entry(build_boards(records)[0], "concept-neurons").status == "ranked"


def test_a_target_at_its_floor_is_shown_as_such():
    # No example scores at all once pruned (NER's F1 when no location is predicted): forgetting is 1 by the
    # target's floor, at every seed and every resample, not a precise estimate.
    records = controls() + [made_record("snip", s, unlearned=0.0, relearn=(0.0, 0.3, 0.6, 0.7), binary=True)
                            for s in range(3)]
    forgot = entry(build_boards(records)[0], "snip").stats["forgetting"]
    assert forgot.note == "floor" and forgot.format() == "1.000 (floor)"


# --- power ------------------------------------------------------------------------------------------------------

def test_the_minimum_detectable_difference_by_hand():
    # Seeds that draw their own examples, SD 0.1 of a paired difference, 4 seeds: (t(.975, 3) + t(.8, 3)) · 0.1/2.
    expected = (stats.t.ppf(0.975, 3) + stats.t.ppf(0.8, 3)) * 0.05
    assert detectable(0.1, None, 4, crossed=False) == pytest.approx(expected)
    assert seeds_to_detect(expected, 0.1, None, crossed=False) == 4
    # Examples every seed shares: their error does not shrink with seeds; 0.04 of it allows no less than
    # (1.96 + 0.84) · 0.04 = 0.112, so no number of seeds reaches 0.1.
    assert seeds_to_detect(0.1, 0.05, 0.04, crossed=True) is None
    assert detectable(0.0, 0.04, 2, crossed=True) == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * 0.04)


def test_every_page_states_alpha_the_correction_and_what_it_can_detect():
    records = controls() + [made_record("snip", s, relearn=c) for s, c in enumerate(SHARED)]
    page = markdown(build_boards(records)[0])
    assert "α = 0.05, Holm-corrected" in page and "Power: the smallest difference in score" in page


def test_rt90_over_seeds_is_a_kaplan_meier_median_of_censored_times():
    # Two seeds reached 0.9 at steps 4 and 16, one not within 64: S(4) = 2/3, S(16) = 1/3, the median is 16.
    assert censored_median([(4, "reached"), (16, "reached"), (None, "not reached")], 64).value == 16
    # Two of three censored: the survival never falls to 1/2, the median is "> 64" (not 64).
    assert censored_median([(4, "reached"), (None, "not reached"), (None, "not reached")], 64).text() == "> 64"
