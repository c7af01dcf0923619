"""The regression gate: compare the entries of a configuration with a baseline leaderboard.json.

A gated figure regresses when its mean falls below the baseline's by more than the tolerance, the half-width
of the 95% confidence interval of the difference of the two means (Student's t on the pooled seed spread;
Welch's standard error): a drop the seeds' own noise explains passes, a drop beyond it fails. A floor keeps
a baseline with identical seeds from failing on rounding.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.leaderboard import LEADERBOARD_SCHEMA, Board
from bench.multiseed import t_quantile

GATED = ("resistance", "forgetting")  # higher is better for both
DEFAULT_FLOOR = 0.02


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
    if n_b < 2 and n_c < 2:
        return floor  # no spread to derive anything from
    se = math.sqrt(sd_b ** 2 / max(n_b, 1) + sd_c ** 2 / max(n_c, 1))
    return max(floor, t_quantile(max(2, n_b + n_c - 1)) * se)


def read_baseline(path: Path) -> dict[str, dict[str, Any]]:
    """Entry id -> entry (with stats) of a leaderboard.json."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BenchError(f"no baseline at {path} (write one with `bench check --config FILE --write-baseline {path}`)") from None
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or data.get("schema") != LEADERBOARD_SCHEMA or "boards" not in data:
        raise BenchError(f"{path}: not a leaderboard.json of schema {LEADERBOARD_SCHEMA}")
    return {e["id"]: e for board in data["boards"] for e in board["entries"]}


def compare(baseline: dict[str, dict[str, Any]], boards: list[Board], floor: float = DEFAULT_FLOOR) -> list[Comparison]:
    current = {e.entry_id: e for b in boards for e in b.entries}
    results = []
    for entry_id, base in baseline.items():
        now = current.get(entry_id)
        if now is None:
            results.append(Comparison(entry_id, "–", None, None, None, "entry missing: no records of this configuration"))
            continue
        for figure in GATED:
            b = base["stats"].get(figure) or {"mean": None, "n": 0}
            s = now.stats[figure]
            c = {"mean": s.mean, "sd": s.sd, "n": s.n}
            if b["mean"] is None:
                continue  # undefined in the baseline (e.g. the `none` control's resistance): nothing to hold
            if c["mean"] is None:
                results.append(Comparison(entry_id, figure, b["mean"], None, None,
                                          f"{figure} is now undefined (it was {b['mean']:.3f})"))
                continue
            tol = tolerance(b, c, floor)
            drop = b["mean"] - c["mean"]
            problem = (f"{figure} fell by {drop:.3f} ({b['mean']:.3f} → {c['mean']:.3f}), beyond the tolerance "
                       f"{tol:.3f}") if drop > tol else None
            results.append(Comparison(entry_id, figure, b["mean"], c["mean"], tol, problem))
    return results
