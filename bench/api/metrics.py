"""The benchmark's metric definitions (docs/design.md, "Metrics"), as pure functions of stage scores.

With the target metric m oriented so that higher = more of the concept present:
  forgetting = (m_base - m_unlearned) / m_base                          (signed: < 0 means it grew)
  collateral = per retain metric, its relative drop base -> unlearned (a rise, for a loss such as the
               mean token NLL); the headline is the worst of them
  removed    = mean over the relearning curve (over log(1 + step), step 0 = the unlearned model) of
               (m_base - m(t)) / m_base: the share of the concept still missing while the attacker trains.
               It equals forgetting x resistance where 0 <= r(t) <= 1, and, dividing only by m_base, it
               stays defined and calm when little was forgotten.
  relearned  = (m(T) - m_unlearned) / m_base at the attack's last step T: how far the attack moved the
               target (the `none` control's shows what relearning alone does; 0 means no attack happened)
  r(t)       = (m(t) - m_unlearned) / (m_base - m_unlearned)           (recovery at relearn step t)
  rt90       = first relearn step with r(t) >= 0.9 (None: not reached within the budget, or undefined)
  aurc       = area under r(t), clipped to [0, 1], over log(1 + step), normalised to [0, 1]
  resistance = 1 - aurc
r(t), rt90, aurc and resistance divide by m_base - m_unlearned: they are defined only when forgetting is
resolved (the evaluation's paired 95% interval of it excludes 0; `forgetting_resolved`), because a
denominator inside the evaluation noise makes r(t) noise (the first leaderboard had r(4) = -42 and +12).
A value that is undefined is None, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

EPS = 1e-12

# Retain-metric family -> the most relative damage that still counts as a usable model: a method beyond it is
# not ranked (collateral), and an attack checkpoint beyond it is inadmissible (the attacker's bound).
COLLATERAL_BOUNDS = {"accuracy": 0.10, "nll": 0.10}


def relative_drop(base: float, after: float, higher_is_better: bool = True) -> float | None:
    """How much of `base` was lost (negative = it improved); None when base is 0."""
    if abs(base) < EPS:
        return None
    drop = (base - after) / abs(base)
    return drop if higher_is_better else -drop


def forgetting(m_base: float, m_unlearned: float) -> float | None:
    return relative_drop(m_base, m_unlearned)


def collateral_by_metric(
    base: Mapping[str, float | None], unlearned: Mapping[str, float | None], retain: Mapping[str, bool]
) -> dict[str, float | None]:
    """Each retain metric's relative drop (name -> higher_is_better); None where either score is undefined."""
    return {name: None if base.get(name) is None or unlearned.get(name) is None
            else relative_drop(base[name], unlearned[name], hib) for name, hib in retain.items()}


def collateral(drops: Mapping[str, float | None]) -> float | None:
    """The worst retain metric's drop; undefined when any of them is (an unmeasured loss is not no loss)."""
    if not drops or any(d is None for d in drops.values()):
        return None
    return max(drops.values())


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


def log_step_mean(curve: Sequence[tuple[int, float | None]], clip: bool = False) -> float | None:
    """Trapezoidal area under the curve against log(1 + step), divided by the x range (clipped to [0, 1] first
    when `clip`); None with fewer than two defined points."""
    points = [(math.log1p(step), min(1.0, max(0.0, y)) if clip else y) for step, y in curve if y is not None]
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return None
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))
    return area / (points[-1][0] - points[0][0])


def aurc(curve: Sequence[tuple[int, float | None]]) -> float | None:
    """Area under clip(r, 0, 1) against log(1 + step), normalised to [0, 1]."""
    return log_step_mean(curve, clip=True)


def removed(steps: Sequence[int], values: Sequence[float | None], m_base: float | None) -> float | None:
    """The log-step mean of (m_base - m(t)) / m_base over the relearning curve (signed, never clipped)."""
    if m_base is None or abs(m_base) < EPS or any(v is None for v in values):
        return None
    return log_step_mean([(s, (m_base - v) / m_base) for s, v in zip(steps, values, strict=True)])


def rt90_status(rt: int | None, curve: Sequence[tuple[int, float | None]]) -> str:
    """"reached", "not reached" (within the budget: shown as > N) or "undefined" (no r(t) to read)."""
    if rt is not None:
        return "reached"
    return "not reached" if any(r is not None for _, r in curve) else "undefined"


@dataclass(frozen=True)
class Summary:
    target: str
    m_base: float | None
    m_unlearned: float | None
    forgetting: float | None
    forgetting_resolved: bool
    collateral: float | None
    collateral_by_metric: dict[str, float | None]
    removed: float | None
    relearned: float | None
    recovery: list[tuple[int, float | None]]
    rt90: int | None
    rt90_status: str
    aurc: float | None
    resistance: float | None


def summarize(
    target: str,
    retain: Mapping[str, bool],
    base: Mapping[str, float | None],
    unlearned: Mapping[str, float | None],
    relearn: Sequence[tuple[int, Mapping[str, float | None]]],
    forgetting_resolved: bool = True,
) -> Summary:
    """The run's headline numbers from its stage scores (relearn: (step, scores) in step order, step 0 = the
    unlearned model). `forgetting_resolved`: whether the evaluation resolves the forgetting from 0 (see the
    module docstring); without it the recovery figures are undefined."""
    m_base, m_unlearned = base[target], unlearned[target]
    steps, values = [s for s, _ in relearn], [scores[target] for _, scores in relearn]
    defined = m_base is not None and m_unlearned is not None
    forgot = forgetting(m_base, m_unlearned) if defined else None
    resolved = bool(forgetting_resolved and forgot is not None and forgot > 0)
    curve = (recovery_curve(steps, values, m_base, m_unlearned) if resolved and None not in values
             else [(step, None) for step in steps])
    area = aurc(curve)
    drops = collateral_by_metric(base, unlearned, retain)
    first = rt90(curve)
    return Summary(
        target=target,
        m_base=m_base,
        m_unlearned=m_unlearned,
        forgetting=forgot,
        forgetting_resolved=resolved,
        collateral=collateral(drops),
        collateral_by_metric=drops,
        removed=removed(steps, values, m_base),
        relearned=(None if not defined or values[-1] is None or abs(m_base) < EPS
                   else (values[-1] - m_unlearned) / m_base),
        recovery=curve,
        rt90=first,
        rt90_status=rt90_status(first, curve),
        aurc=area,
        resistance=None if area is None else 1.0 - area,
    )


def beyond_bounds(drops: Mapping[str, float | None], families: Mapping[str, str], bounds: Mapping[str, float]) -> bool:
    """Whether any retain metric's drop exceeds its family's bound (an undefined drop exceeds none)."""
    return any(d is not None and d > bounds.get(families[name], math.inf) for name, d in drops.items())


def attacker_damage(base: Mapping[str, float | None], checkpoints: Iterable[tuple[int, Mapping[str, float | None]]],
                    retain: Mapping[str, bool], families: Mapping[str, str], bounds: Mapping[str, float]
                    ) -> tuple[dict[str, dict[str, float | None]], list[int]]:
    """The attacker's own bound: at each checkpoint after step 0, every retain metric's relative drop from the base
    model (step -> metric -> drop), and the checkpoints where one exceeds its family's bound (inadmissible: the
    attack left the model unusable, so what it recovered there is not the concept coming back)."""
    damage = {str(step): {m: None if d is None else round(d, 6)
                          for m, d in collateral_by_metric(base, scores, retain).items()}
              for step, scores in checkpoints if step > 0}
    return damage, [int(step) for step, drops in damage.items() if beyond_bounds(drops, families, bounds)]
