"""Statistics over seeds: mean, sample SD and a 95% confidence interval (Student's t), per stage (the
paper's Tables 1-3) and for every summary figure the leaderboards report."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.api.record import Record
from bench.core.errors import BenchError


@dataclass(frozen=True)
class SeedStat:
    mean: float | None
    sd: float | None  # sample SD (n - 1); None with fewer than two values
    n: int  # how many seeds had a defined value (undefined ones, e.g. rt90 never reached, are left out)
    ci95: float | None = None  # half-width of the 95% interval of the mean: seeds and evaluation together
    seed_ci95: float | None = None  # the seeds' part (Student's t)
    eval_ci95: float | None = None  # the evaluation examples' part (bootstrap), None where not measured

    @property
    def low(self) -> float | None:
        return None if self.mean is None or self.ci95 is None else self.mean - self.ci95

    @property
    def high(self) -> float | None:
        return None if self.mean is None or self.ci95 is None else self.mean + self.ci95

    def format(self, digits: int = 3) -> str:
        if self.mean is None:
            return "–"
        return f"{self.mean:.{digits}f} ± {self.ci95:.{digits}f}" if self.ci95 is not None else f"{self.mean:.{digits}f}"

    def __str__(self) -> str:
        return self.format()


def t_quantile(n: int) -> float:
    """The two-sided 95% quantile of Student's t with n - 1 degrees of freedom (12.71 for 2 seeds, 4.30 for 3):
    with a handful of seeds the normal 1.96 would claim far more certainty than the data has."""
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def stat(values: list[float | None], eval_half_widths: list[float | None] | None = None) -> SeedStat:
    """Mean over the defined seeds with a 95% interval. `eval_half_widths` (per seed, the 95% half-width of
    that seed's value over evaluation examples) adds the evaluation's error: every seed is scored on the same
    examples, so their evaluation errors do not average out over seeds; the mean of the seeds' half-widths
    (the bound for fully shared error) is added to the seeds' Student-t half-width in quadrature."""
    pairs = [(float(v), None if eval_half_widths is None else eval_half_widths[i])
             for i, v in enumerate(values) if v is not None]
    if not pairs:
        return SeedStat(None, None, 0)
    defined = [v for v, _ in pairs]
    widths = [w for _, w in pairs]
    eval_hw = statistics.fmean(widths) if eval_half_widths is not None and None not in widths else None
    mean = statistics.fmean(defined)
    if len(defined) == 1:
        return SeedStat(mean, None, 1, eval_hw, None, eval_hw)
    sd = statistics.stdev(defined)
    seed_hw = t_quantile(len(defined)) * sd / len(defined) ** 0.5
    total = seed_hw if eval_hw is None else (seed_hw ** 2 + eval_hw ** 2) ** 0.5
    return SeedStat(mean, sd, len(defined), total, seed_hw, eval_hw)


def per_stage(records: list[Record]) -> list[tuple[str, int, SeedStat, SeedStat]]:
    """(stage, step, target mean±SD, retain-mean mean±SD) for every stage all the records share."""
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
