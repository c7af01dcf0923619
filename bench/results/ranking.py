"""The ranking rule: paired tests at a declared α with the board's multiplicity controlled, and the smallest
difference in score a board can detect.

Two families of tests, each corrected by Holm's step-down method:
  control   every non-control entry (every budget) against its control at the same seeds: a pruning method's
            forgetting minus random pruning's of the same size, a weight-editing method's forgetting against
            the none control's, which is 0. Two-sided: significant above is "distinguishable", below is
            "forgets less than random" / "strengthens the concept".
  ranking   every pair of rankable entries (every budget of every method, so that choosing each method's best
            budget afterwards is covered too): the paired difference of their scores at their shared seeds.
Ranked entries are sorted by score; an entry not significantly below its group's leader joins the group, the
first that is starts the next, so a rank group never holds an entry the test separates from its leader.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from bench.results.entry import Entry
from bench.results.inference import (
    ALPHA,
    HOLM,
    POWER,
    Estimate,
    detectable,
    holm,
    seeds_to_detect,
)
from bench.results.paired import SeedValue, over_seeds

RESOLUTION_GOAL = 0.1  # the difference in score a board should be able to detect (the sweep's seed counts aim here)


@dataclass(frozen=True)
class Power:
    """What a board can resolve: the smallest difference in score between two entries that a paired test at
    α detects with 80% power, from its own records."""

    seeds: int  # the seeds its entries have (the none control's count)
    seed_sd: float | None  # pooled SD over seeds of the paired differences in score
    eval_se: float | None  # the evaluation's standard error of such a difference (shared by the seeds), median
    crossed: bool  # the seeds share their evaluation examples: more seeds do not shrink the evaluation's part
    pairs: int  # paired comparisons it is estimated from
    mdd: float | None
    seeds_for_goal: int | None  # seeds at which RESOLUTION_GOAL becomes detectable (None: no number of seeds)

    def text(self) -> str:
        if self.mdd is None:
            shared = (f"; the evaluation's shared error of a paired difference is {self.eval_se:.3f}"
                      if self.eval_se is not None and self.crossed else "")
            return ("not estimated: no entry has two seeds that differ, so the seeds' spread is unknown"
                    f" ({self.seeds} seed{'s' if self.seeds != 1 else ''} so far{shared})")
        parts = [f"the smallest difference in score this board detects with {POWER:.0%} power at α = {ALPHA:g} "
                 f"(two-sided, paired, one comparison) is {self.mdd:.3f} with its {self.seeds} seeds"]
        if self.mdd <= RESOLUTION_GOAL:
            parts.append(f"within the goal of {RESOLUTION_GOAL:g}")
        elif self.seeds_for_goal is not None:
            parts.append(f"{RESOLUTION_GOAL:g} needs {self.seeds_for_goal} seeds")
        else:
            floor = detectable(0.0, self.eval_se, 2, crossed=self.crossed)
            parts.append(f"no number of seeds reaches {RESOLUTION_GOAL:g}: the evaluation examples every seed "
                         f"shares allow no less than {floor:.3f} (more examples are needed)")
        sd = "–" if self.seed_sd is None else f"{self.seed_sd:.3f}"
        if self.crossed:
            se = "–" if self.eval_se is None else f"{self.eval_se:.3f}"
            parts_of = f"seed SD {sd}, shared evaluation SE {se}"
        else:
            parts_of = f"seed SD {sd}, which holds the evaluation error: each seed draws its own examples"
        return "; ".join(parts) + f" (from {self.pairs} paired comparisons: {parts_of})"


def paired_difference(a: dict[int, SeedValue], b: dict[int, SeedValue], *, crossed: bool) -> Estimate:
    """a − b at the seeds both have, the draws subtracted example by example (the board's shared resampling)."""
    shared = sorted(set(a) & set(b))
    return over_seeds([SeedValue(s, a[s].draws - b[s].draws, a[s].key + b[s].key) for s in shared], crossed=crossed)


def board_power(entries: Sequence[Entry], seeds: int, crossed: bool) -> Power:
    """Pool the seeds' variance of every paired score difference the board holds (each entry against the none
    control, and every pair of entries) and take the median evaluation error of those differences."""
    scored = [e for e in entries if not e.is_control and e.removed_draws]
    none = next((e for e in entries if e.method == "none" and e.removed_draws), None)
    pools = [(e.removed_draws, none.removed_draws) for e in scored] if none else []
    pools += [(a.removed_draws, b.removed_draws) for a, b in combinations(scored, 2)]
    squares, dof, errors = 0.0, 0, []
    for a, b in pools:
        difference = paired_difference(a, b, crossed=crossed)
        if difference.replicates >= 2 and difference.sd is not None:
            squares += (difference.replicates - 1) * difference.sd ** 2
            dof += difference.replicates - 1
        if difference.eval_se is not None and difference.replicates >= 1:
            # The evaluation error of one seed's difference scales to the mean over k crossed replicates no
            # better than 1/k; take the error of the mean as measured, at the pair's own seed count.
            errors.append(difference.eval_se)
    seed_sd = math.sqrt(squares / dof) if dof else None
    eval_se = float(np.median(errors)) if errors else None
    if seed_sd is None:
        # No entry has two seeds that differ: the seeds' spread, the larger part of a paired difference's error
        # on every board measured so far, is unknown, and no power can be stated.
        return Power(seeds, None, eval_se, crossed, len(pools), None, None)
    mdd = detectable(seed_sd, eval_se, max(seeds, 1), crossed=crossed)
    needed = seeds_to_detect(RESOLUTION_GOAL, seed_sd, eval_se, crossed=crossed)
    return Power(seeds, seed_sd, eval_se, crossed, len(pools), mdd, needed)


def _p(value: float | None) -> str:
    return "–" if value is None else (f"{value:.2g}" if value >= 0.001 else f"{value:.1e}")


def control_verdicts(candidates: Sequence[Entry], alpha: float = ALPHA) -> list[Entry]:
    """Test every entry against its control (`entry.control_test`, a two-sided paired estimate), Holm-corrected
    over the board; set the status of those that fail and return those that pass."""
    family = {id(e): e.control_test.p for e in candidates if e.control_test and e.control_test.p is not None}
    adjusted = holm(family)
    passed = []
    for e in candidates:
        test = e.control_test
        control = e.control
        if test is None or test.mean is None:
            e.status = f"not ranked: no paired comparison with the {control} control at its seeds"
            continue
        if test.p is None:
            e.status = (f"not ranked: its difference from {control} ({test.mean:+.3f}) has no evaluation error to "
                        "test it against (records without per-example columns)")
            continue
        e.control_p = adjusted[id(e)]
        what = {"random": "forgetting minus random pruning's at each seed",
                "retain-tuning": "forgetting minus retain-tuning's at the same step budget, at each seed"}.get(
            control, "forgetting against the none control's 0")
        shown = f"{what}: {test.format()}, {HOLM}-adjusted p = {_p(e.control_p)}"
        if e.control_p >= alpha:
            e.status = f"not distinguishable from {control} ({shown})"
        elif test.mean < 0:
            e.status = {"random": f"not ranked: it forgets less than random pruning ({shown})",
                        "retain-tuning": f"not ranked: it forgets less than retain-tuning alone ({shown})"}.get(
                control, f"not ranked: it strengthens the concept ({shown})")
        else:
            passed.append(e)
    return passed


def rank_groups(candidates: Sequence[Entry], crossed: bool, alpha: float = ALPHA) -> dict[tuple[int, int], float]:
    """Each method at its best budget by score; groups from the pairwise paired tests of score, Holm-corrected
    over every pair of candidates (every budget). Returns the adjusted p-values by pair of entry ids."""
    tests = {(id(a), id(b)): paired_difference(a.removed_draws, b.removed_draws, crossed=crossed)
             for a, b in combinations(candidates, 2)}
    adjusted = holm({pair: t.p for pair, t in tests.items() if t.p is not None})
    best: dict[tuple[str, str], Entry] = {}
    for e in candidates:
        method = (e.label, e.setting_key)
        if method not in best or e.stats["score"].mean > best[method].stats["score"].mean:
            best[method] = e
    for e in candidates:
        chosen = best[(e.label, e.setting_key)]
        if chosen is not e:
            e.status = f"not ranked: {chosen.budget} is this method's best budget"
    ranked = sorted(best.values(), key=lambda e: (-e.stats["score"].mean, e.label))
    group, leader = 0, None
    for e in ranked:
        if leader is not None:
            pair = (id(leader), id(e)) if (id(leader), id(e)) in tests else (id(e), id(leader))
            p = adjusted.get(pair)
            e.leader_p = p
        if leader is None or (p is not None and p < alpha):
            group, leader = group + 1, e
        e.rank, e.status = group, "ranked"
    return adjusted
