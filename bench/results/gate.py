"""The regression gate: compare the entries of a configuration with a baseline leaderboard.json.

Two-sided: a gated figure regresses when its mean moves away from the baseline's, in either direction, by
more than the tolerance — the half-width of the 95% interval of the difference of the two means: Student's t
on the seeds' spread (Welch's standard error) and the two means' evaluation half-widths, added in
quadrature. A drop is the usual regression; a rise the noise cannot explain is a bug too (relearning that
silently stopped inflates resistance; a mask leaking into the random control inflates its forgetting; a
multiplied collateral moves collateral). Every entry is gated, the controls included, on every figure it
defines: forgetting, score, resistance, every collateral column, and how far the attack moved the target.
A floor keeps a baseline with identical seeds from failing on rounding.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.errors import BenchError
from bench.results.leaderboard import BOARD_COLUMNS, LEADERBOARD_SCHEMA, Board
from bench.results.statistics import t_quantile

DEFAULT_FLOOR = 0.02


def gated(stats: dict[str, Any]) -> list[str]:
    """The figures the gate holds: the gated columns of the table, and every collateral column."""
    return [*(c.name for c in BOARD_COLUMNS if c.gated), *sorted(name for name in stats if name.startswith("collateral/"))]


@dataclass(frozen=True)
class Comparison:
    entry: str
    figure: str
    baseline: float | None
    current: float | None
    tolerance: float | None
    problem: str | None  # None: passes

    @property
    def change(self) -> float | None:
        return None if self.baseline is None or self.current is None else self.current - self.baseline


def tolerance(base: dict[str, Any], now: dict[str, Any], floor: float) -> float:
    n_b, n_c = base["n"], now["n"]
    sd_b, sd_c = base.get("sd") or 0.0, now.get("sd") or 0.0
    seeds = 0.0
    if n_b >= 2 or n_c >= 2:
        se = math.sqrt(sd_b ** 2 / max(n_b, 1) + sd_c ** 2 / max(n_c, 1))
        seeds = t_quantile(max(2, n_b + n_c - 1)) * se
    evaluation = math.hypot(base.get("eval_ci95") or 0.0, now.get("eval_ci95") or 0.0)
    return max(floor, math.hypot(seeds, evaluation))


def read_baseline(path: Path) -> dict[str, dict[str, Any]]:
    """Entry id -> entry (with stats) of a leaderboard.json."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BenchError(f"no baseline at {path} (write one with `bench check --config FILE --write-baseline {path}`)") from None
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    # Schema 2 holds the same mean, sd, n and eval_ci95 per figure that the gate reads (its intervals were
    # unpaired): a baseline written before schema 3 still gates.
    if not isinstance(data, dict) or data.get("schema") not in (2, LEADERBOARD_SCHEMA) or "boards" not in data:
        raise BenchError(f"{path}: not a leaderboard.json of schema 2 or {LEADERBOARD_SCHEMA}")
    return {e["id"]: e for board in data["boards"] for e in board["entries"]}


def compare(baseline: dict[str, dict[str, Any]], boards: list[Board], floor: float = DEFAULT_FLOOR) -> list[Comparison]:
    current = {e.entry_id: e for b in boards for e in b.entries}
    results = []
    for entry_id, base in baseline.items():
        now = current.get(entry_id)
        if now is None:
            results.append(Comparison(entry_id, "–", None, None, None, "entry missing: no records of this configuration"))
            continue
        for figure in gated(base["stats"]):
            b = base["stats"].get(figure) or {"mean": None, "n": 0}
            s = now.stats.get(figure)
            if b["mean"] is None:
                continue  # undefined in the baseline (e.g. the `none` control's resistance): nothing to hold
            if s is None or s.mean is None:
                results.append(Comparison(entry_id, figure, b["mean"], None, None,
                                          f"{figure} is now undefined (it was {b['mean']:.3f})"))
                continue
            c = {"mean": s.mean, "sd": s.sd, "n": s.n, "eval_ci95": s.eval_ci95}
            tol = tolerance(b, c, floor)
            change = c["mean"] - b["mean"]
            problem = None
            if abs(change) > tol:
                problem = (f"{figure} {'rose' if change > 0 else 'fell'} by {abs(change):.3f} ({b['mean']:.3f} → "
                           f"{c['mean']:.3f}), beyond the tolerance {tol:.3f}")
            results.append(Comparison(entry_id, figure, b["mean"], c["mean"], tol, problem))
    return results
