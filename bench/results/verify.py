"""`bench verify`: run a record's configuration again from scratch and say, figure by figure, whether the new run
agrees with the record within the record's own 95% intervals; where the device, its threads and the library
versions match the record's, whether its per-example columns are bit-identical as well.

Released numbers that do not reproduce are what users of unlearning suites complain of most: a verification is
the evidence that a committed figure is what its configuration gives. It is written beside the record
(RUN_ID.verification.json), where `bench leaderboard build` finds it and marks the record verified.

What "from scratch" covers: the run is forced (it unlearns, evaluates and attacks again, reusing no stored result
of it); the prepared model and the task data are the store's, so a verification from an empty BENCH_HOME
(`BENCH_HOME=$(mktemp -d) bench verify RECORD`) prepares those again too.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bench.api.record import Record
from bench.core.errors import BenchError

# Intervals and figures are written rounded (6 decimals): a figure equal to its interval's end must agree.
ROUNDING = 5e-6


@dataclass(frozen=True)
class Figure:
    name: str  # "unlearned f1/GPE", "relearn@16 f1/GPE", "forgetting", "recovery@16"
    recorded: float | None
    interval: tuple[float, float] | None  # the record's 95% interval (None: the record gives none)
    rerun: float | None

    @property
    def agrees(self) -> bool:
        """Within the record's interval; a figure the record gives no interval for must be equal."""
        if self.recorded is None or self.rerun is None:
            return self.recorded is None and self.rerun is None
        if not (math.isfinite(self.recorded) and math.isfinite(self.rerun)):
            return self.recorded == self.rerun
        if self.interval is None:
            return abs(self.rerun - self.recorded) <= ROUNDING
        low, high = self.interval
        return low - ROUNDING <= self.rerun <= high + ROUNDING


@dataclass
class Verification:
    run_id: str
    figures: list[Figure]
    bit_identical: bool | None  # None: not comparable bit for bit (another device, thread count or library)
    why_not_comparable: str | None
    seconds: float
    device: dict[str, Any]
    verified_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def disagreeing(self) -> list[Figure]:
        return [f for f in self.figures if not f.agrees]

    @property
    def agrees(self) -> bool:
        return not self.disagreeing and self.bit_identical is not False


def _interval(value: Any) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


def _summary_figures(record: Record) -> dict[str, tuple[float | None, tuple[float, float] | None]]:
    """Every headline figure with its interval: forgetting, collateral (and per retain metric), removed,
    relearned, aurc, resistance, recovery at each checkpoint."""
    s = record.summary
    found: dict[str, tuple[float | None, tuple[float, float] | None]] = {}
    for name in ("forgetting", "collateral", "removed", "relearned", "aurc", "resistance"):
        found[name] = (getattr(s, name), _interval(s.intervals.get(name)))
    for metric, value in s.collateral_by_metric.items():
        found[f"collateral/{metric}"] = (value, _interval(s.intervals.get(f"collateral/{metric}")))
    for step, value in s.recovery:
        found[f"recovery@{step}"] = (value, _interval(s.intervals.get(f"recovery@{step}")))
    return found


def _stage_name(stage) -> str:
    return stage.stage if stage.stage != "relearn" else f"relearn@{stage.step}"


def compare(recorded: Record, rerun: Record) -> list[Figure]:
    """Figure by figure: every metric at every evaluated stage, then the headline figures."""
    figures = []
    again = {_stage_name(s): s for s in rerun.stages}
    for stage in recorded.stages:
        other = again.get(_stage_name(stage))
        for metric, value in stage.scores.items():
            figures.append(Figure(f"{_stage_name(stage)} {metric}", value, _interval(stage.intervals.get(metric)),
                                  None if other is None else other.scores.get(metric)))
    rerun_summary = _summary_figures(rerun)
    for name, (value, interval) in _summary_figures(recorded).items():
        figures.append(Figure(name, value, interval, rerun_summary.get(name, (None, None))[0]))
    return figures


def why_not_bit_identical(recorded: Record, rerun: Record) -> str | None:
    """Why two runs of one configuration need not give identical columns (None: they must)."""
    a, b = recorded.provenance, rerun.provenance
    for key in ("type", "name", "threads"):
        if a.device.get(key) != b.device.get(key):
            return f"device {key}: {a.device.get(key)} then {b.device.get(key)}"
    for package in ("torch", "transformers", "numpy"):
        if a.versions.get(package) != b.versions.get(package):
            return f"{package} {a.versions.get(package)} then {b.versions.get(package)}"
    if recorded.examples is None or rerun.examples is None:
        return "the record has no per-example columns"
    return None


def _columns(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as arrays:
        return {name: arrays[name].copy() for name in arrays.files}


def same_columns(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and np.array_equal(a[k], b[k], equal_nan=True)
                                        for k in a)


def config_of(record: Record):
    """The record's configuration as this harness reads it (a field it no longer has is a clear error)."""
    from bench.harness.config import RunConfig

    names = {f.name for f in dataclasses.fields(RunConfig)}
    if unknown := sorted(set(record.config) - names):
        raise BenchError(f"run {record.run_id} was made by a harness with config field(s) {', '.join(unknown)}, "
                         "which this version does not have: it cannot be run again as it was")
    return RunConfig(**record.config)


def verify(record: Record) -> Verification:
    """Run `record`'s configuration again (forced) and compare. Its per-example columns are read first: a record
    in the store is replaced by the new run's."""
    from bench.harness.protocol import run_resolved
    from bench.harness.resolution import resolve_run
    from bench.harness.store import find

    cfg = config_of(record)
    columns = _columns(record.examples) if record.examples is not None else None
    t = time.perf_counter()
    try:
        setup = resolve_run(cfg, device=record.provenance.device.get("type"), planned_id=record.run_id)
    except BenchError as exc:
        raise BenchError(f"run {record.run_id} cannot be run again as it was: {exc} (a method, task or attack "
                         "version bump since it ran gives its configuration another id)") from None
    rerun = find(run_resolved(setup, force=True).run_id)
    seconds = time.perf_counter() - t
    why = why_not_bit_identical(record, rerun)
    identical = None if why is not None or columns is None else same_columns(columns, _columns(rerun.examples))
    return Verification(record.run_id, compare(record, rerun), identical, why, round(seconds, 2),
                        dict(rerun.provenance.device))


def verification_json(v: Verification) -> dict[str, Any]:
    return {"run_id": v.run_id, "agrees": v.agrees, "bit_identical": v.bit_identical,
            "why_not_comparable": v.why_not_comparable, "seconds": v.seconds, "device": v.device,
            "verified_at": v.verified_at, "disagreeing": [f.name for f in v.disagreeing],
            "figures": [{"name": f.name, "recorded": f.recorded, "interval": f.interval, "rerun": f.rerun,
                         "agrees": f.agrees} for f in v.figures]}
