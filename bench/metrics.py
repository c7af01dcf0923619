"""The benchmark's metric definitions (DESIGN.md), as pure functions of stage scores.

With the target metric m oriented so that higher = more of the concept present:
  forgetting = (m_base - m_unlearned) / m_base
  collateral = mean over retain metrics of their relative drop, base -> unlearned
  r(t)       = (m(t) - m_unlearned) / (m_base - m_unlearned)          (recovery at relearn step t)
  rt90       = first relearn step with r(t) >= 0.9 (None if never within the budget)
  aurc       = area under r(t), clipped to [0, 1], over log(1 + step), normalised to [0, 1]
  resistance = 1 - aurc
A value that is undefined (division by zero: nothing to forget, nothing forgotten) is None, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

EPS = 1e-12


def relative_drop(base: float, after: float, higher_is_better: bool = True) -> float | None:
    """How much of `base` was lost (negative = it improved); None when base is 0."""
    if abs(base) < EPS:
        return None
    drop = (base - after) / abs(base)
    return drop if higher_is_better else -drop


def forgetting(m_base: float, m_unlearned: float) -> float | None:
    return relative_drop(m_base, m_unlearned)


def collateral(
    base: Mapping[str, float], unlearned: Mapping[str, float], retain: Mapping[str, bool]
) -> float | None:
    """Mean relative drop of the retain metrics (name -> higher_is_better); those with base 0 are skipped."""
    drops = [relative_drop(base[name], unlearned[name], hib) for name, hib in retain.items()]
    defined = [d for d in drops if d is not None]
    return sum(defined) / len(defined) if defined else None


def recovery(m_t: float, m_base: float, m_unlearned: float) -> float | None:
    """None when nothing was forgotten: with m_unlearned >= m_base there is no loss to recover from, and the
    ratio (negative denominator) would read as recovery whenever the concept falls."""
    if m_base - m_unlearned < EPS:
        return None
    return (m_t - m_unlearned) / (m_base - m_unlearned)


def recovery_curve(
    steps: Sequence[int], values: Sequence[float], m_base: float, m_unlearned: float
) -> list[tuple[int, float | None]]:
    return [(step, recovery(value, m_base, m_unlearned)) for step, value in zip(steps, values, strict=True)]


def rt90(curve: Sequence[tuple[int, float | None]], threshold: float = 0.9) -> int | None:
    for step, r in curve:
        if r is not None and r >= threshold:
            return step
    return None


def aurc(curve: Sequence[tuple[int, float | None]]) -> float | None:
    """Trapezoidal area under clip(r, 0, 1) against log(1 + step), divided by the x range."""
    points = [(math.log1p(step), min(1.0, max(0.0, r))) for step, r in curve if r is not None]
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return None
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))
    return area / (points[-1][0] - points[0][0])


@dataclass(frozen=True)
class Summary:
    target: str
    m_base: float
    m_unlearned: float
    forgetting: float | None
    collateral: float | None
    recovery: list[tuple[int, float | None]]
    rt90: int | None
    aurc: float | None
    resistance: float | None


def summarize(
    target: str,
    retain: Mapping[str, bool],
    base: Mapping[str, float],
    unlearned: Mapping[str, float],
    relearn: Sequence[tuple[int, Mapping[str, float]]],
) -> Summary:
    """The run's headline numbers from its stage scores (relearn: (step, scores) in step order)."""
    m_base, m_unlearned = base[target], unlearned[target]
    curve = recovery_curve([s for s, _ in relearn], [scores[target] for _, scores in relearn], m_base, m_unlearned)
    area = aurc(curve)
    return Summary(
        target=target,
        m_base=m_base,
        m_unlearned=m_unlearned,
        forgetting=forgetting(m_base, m_unlearned),
        collateral=collateral(base, unlearned, retain),
        recovery=curve,
        rt90=rt90(curve),
        aurc=area,
        resistance=None if area is None else 1.0 - area,
    )
