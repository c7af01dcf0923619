"""Mean and standard deviation over seeds, per stage (the paper's Tables 1-3)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.errors import BenchError
from bench.record import Record


@dataclass(frozen=True)
class SeedStat:
    mean: float | None
    sd: float | None
    n: int

    def __str__(self) -> str:
        if self.mean is None:
            return "–"
        return f"{self.mean:.3f} ± {self.sd:.3f}" if self.sd is not None else f"{self.mean:.3f}"


def stat(values: list[float | None]) -> SeedStat:
    defined = [v for v in values if v is not None]
    if not defined:
        return SeedStat(None, None, 0)
    sd = statistics.stdev(defined) if len(defined) > 1 else None
    return SeedStat(statistics.fmean(defined), sd, len(defined))


def per_stage(records: list[Record]) -> list[tuple[str, int, SeedStat, SeedStat]]:
    """(stage, step, target mean±SD, retain-mean mean±SD) for every stage all the records share."""
    if not records:
        raise BenchError("no records to aggregate")
    target = records[0].summary["target"]
    keys = [(s.stage, s.step) for s in records[0].stages]
    shared = [k for k in keys if all(any((s.stage, s.step) == k for s in r.stages) for r in records)]
    rows = []
    for stage, step in shared:
        scores = [next(s.scores for s in r.stages if (s.stage, s.step) == (stage, step)) for r in records]
        rows.append((stage, step, stat([sc[target] for sc in scores]),
                     stat([r.retain_mean(sc) for r, sc in zip(records, scores, strict=True)])))
    return rows


def summary_stats(records: list[Record]) -> dict[str, SeedStat]:
    return {name: stat([r.summary[name] for r in records])
            for name in ("forgetting", "collateral", "rt90", "aurc", "resistance")}
