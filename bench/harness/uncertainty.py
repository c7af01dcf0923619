"""A run's evaluation uncertainty: the paired bootstrap of every stage score and every summary figure.

All stages of a run score the same examples, so one set of resampled example indices is applied to every
stage (bench.api.evaluation.bootstrap_weights); each replicate's stage scores go through the same
`bench.api.metrics.summarize` as the point estimate, and the 2.5th and 97.5th percentiles of each figure over
the replicates are its 95% interval. The interval says how much the figure would move on another draw of
evaluation examples of the same size; it says nothing about seeds (the leaderboard adds those).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bench.api.evaluation import (
    ANALYSIS_SEED,
    DEFAULT_REPLICATES,
    Evaluation,
    binary_counts,
    bootstrap_weights,
    check_paired,
    interval,
    is_resolved,
)
from bench.api.metrics import summarize

Interval = tuple[float, float] | None


@dataclass(frozen=True)
class RunUncertainty:
    stage_intervals: list[dict[str, Interval]]  # one per stage, metric -> 95% interval
    summary_intervals: dict[str, Interval]  # summary figure -> 95% interval
    forgetting_resolved: bool  # forgetting above 0 by a one-sided 2.5% test (bench.api.evaluation.is_resolved)
    replicates: int
    seed: int


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _figures(summary) -> dict[str, float | None]:
    """The summary figures that get intervals (recovery per checkpoint, collateral per retain metric)."""
    out = {"forgetting": summary.forgetting, "collateral": summary.collateral, "removed": summary.removed,
           "relearned": summary.relearned,
           "aurc": summary.aurc, "resistance": summary.resistance}
    out.update({f"collateral/{name}": drop for name, drop in summary.collateral_by_metric.items()})
    out.update({f"recovery@{step}": r for step, r in summary.recovery})
    return out


def run_uncertainty(evaluations: Sequence[Evaluation], stages: Sequence[tuple[str, int]], target: str,
                    retain: Mapping[str, bool], replicates: int = DEFAULT_REPLICATES,
                    seed: int = ANALYSIS_SEED) -> RunUncertainty:
    """`evaluations[i]` is the evaluation of `stages[i]` = (stage name, relearn step): "base", "unlearned",
    then "relearn" steps in order (step 0 = the unlearned model)."""
    weights = bootstrap_weights(check_paired(evaluations), replicates, seed)
    # Relearning step 0 is the unlearned model's own evaluation: resample each evaluation once.
    by_identity = {id(e): e.resampled(weights) for e in evaluations}
    resampled = [by_identity[id(e)] for e in evaluations]
    stage_intervals = [{metric: interval(values) for metric, values in r.items()} for r in resampled]

    index = {name: i for i, (name, _) in enumerate(stages) if name != "relearn"}
    relearn = [(step, i) for i, (name, step) in enumerate(stages) if name == "relearn"]
    base, unlearned = evaluations[index["base"]], evaluations[index["unlearned"]]
    point_base, point_unlearned = base.scores()[target], unlearned.scores()[target]
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = (resampled[index["base"]][target] - resampled[index["unlearned"]][target]) / np.abs(
            resampled[index["base"]][target])
    point = (math.nan if point_base is None or point_unlearned is None or abs(point_base) < 1e-12
             else (point_base - point_unlearned) / abs(point_base))
    resolved = bool(is_resolved(point, draws, binary_counts(base, unlearned, target)))

    per_figure: dict[str, list[float]] = {}
    for b in range(replicates):
        def scores(i: int) -> dict[str, float | None]:
            return {m: _none_if_nan(v[b]) for m, v in resampled[i].items()}
        # The replicate's recovery is defined exactly where the point estimate's is: the resolution is a
        # property of the run, not of one resample.
        summary = summarize(target, retain, scores(index["base"]), scores(index["unlearned"]),
                            [(step, scores(i)) for step, i in relearn], forgetting_resolved=resolved)
        for name, value in _figures(summary).items():
            per_figure.setdefault(name, []).append(math.nan if value is None else value)
    summary_intervals = {name: interval(np.asarray(values)) for name, values in per_figure.items()}
    return RunUncertainty(stage_intervals, summary_intervals, resolved, replicates, seed)


def rounded(bounds: Interval, digits: int = 6) -> list[float] | None:
    return None if bounds is None else [round(bounds[0], digits), round(bounds[1], digits)]
