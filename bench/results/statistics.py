"""Statistics over seeds of a stage's scores (the paper's Tables 1-3): the mean with a 95% interval over
seeds (Student's t). The figures of leaderboards and of `bench show`'s seeds table are estimated with their
evaluation error, jointly over the examples (bench.results.leaderboard, bench.results.paired); a stage's raw
scores here are what each seed measured, so their interval is the seeds' spread alone."""

from __future__ import annotations

from bench.api.record import Record
from bench.core.errors import BenchError
from bench.results.inference import Estimate, combine, t_quantile

__all__ = ["per_stage", "stat", "t_quantile"]


def stat(values: list[float | None]) -> Estimate:
    """Mean over the defined values with a 95% interval over them (Student's t; none with one value)."""
    defined = [float(v) for v in values if v is not None]
    return combine(defined, None, crossed=False, seeds=len(defined))


def per_stage(records: list[Record]) -> list[tuple[str, int, Estimate, Estimate]]:
    """(stage, step, target over seeds, retain-mean over seeds) for every stage all the records share."""
    if not records:
        raise BenchError("no records to aggregate")
    target = records[0].summary.target
    keys = [(s.stage, s.step) for s in records[0].stages]
    shared = [k for k in keys if all(any((s.stage, s.step) == k for s in r.stages) for r in records)]
    rows = []
    for stage, step in shared:
        scores = [next(s.scores for s in r.stages if (s.stage, s.step) == (stage, step)) for r in records]
        rows.append((stage, step, stat([sc[target] for sc in scores]),
                     stat([r.retain_mean(sc) for r, sc in zip(records, scores, strict=True)])))
    return rows
