"""The figures a board reports, each computed per seed on the board's joint resampling (bench.results.paired)
and combined over seeds into an `Estimate` (bench.results.inference).

Figures:
  score       removed vs none: the log-step mean over the relearning curve of (m_none(t) - m(t)) / m_base,
              the share of the concept still missing compared with the unpruned model relearned the same
              way (signed). Relearning alone moves the target (on NER it costs the intact model part of its
              F1), so a curve's own fall under the attack is not removal: the `none` control subtracts it.
  forgetting  (m_base - m_unlearned) / m_base, signed (a seed that forgot nothing counts as what it is).
  collateral  one column per retain metric: its relative drop (a rise, for the mean token NLL).
  resistance  1 - aurc of r(t) against the none control: (m(t) - m_unlearned) / (m_none(t) - m_unlearned),
              defined where forgetting is resolved and the gap exceeds its own joint evaluation noise.
  rt90        the Kaplan–Meier median over seeds of the first step where that r(t) >= 0.9; "> N" when the
              median seed did not reach it within the N steps of the attack (censored), "–" when undefined.
  resistance vs base   the record's own resistance: r(t) against m_base (the papers' definition).
  anamnesis   steps the unlearned model needs to regain 90% of its base level ÷ steps the never-learned control
              needs to reach that level (Chundawat et al. 2023's anamnesis index), each a censored median.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.api.metrics import rt90, rt90_status
from bench.api.record import Record
from bench.results import paired
from bench.results.entry import Anamnesis, Entry
from bench.results.inference import censored_median
from bench.results.paired import RunDraws

ANAMNESIS_LEVEL = 0.9  # the share of the intact model's target level that counts as relearned


@dataclass
class SeedRuns:
    """One seed of an entry: its run and its controls' runs at that seed, on the board's resampling."""

    seed: int
    run: RunDraws
    none: RunDraws | None
    never: RunDraws | None
    random: RunDraws | None
    resolved: bool  # the run's forgetting is resolved above 0 (bench.results.paired.resolved)
    retain_tuning: RunDraws | None = None  # the retain-tuning control at the entry's step budget
    _recovery: list[tuple[int, np.ndarray | None]] | None = None

    def recovery(self) -> list[tuple[int, np.ndarray | None]]:
        """r(t) against the none control at this seed (empty without it)."""
        if self._recovery is None:
            self._recovery = [] if self.none is None else paired.recovery_vs_none(self.run, self.none, self.resolved)
        return self._recovery


@dataclass(frozen=True)
class Column:
    """One reported figure: its name and label, which direction is better, what it means, how a seed's draws
    are computed (None: undefined at that seed), which stages of the run (and of the none control, where it
    needs it) make it up — seeds whose stages are identical are one replicate —, which metric it reads (its
    sample decides whether seeds share examples), whether the regression gate holds it, and a cell of its own
    where it is not an estimate."""

    name: str
    label: str
    higher_is_better: bool
    help: str
    per_seed: Callable[[SeedRuns], np.ndarray | None] | None = None
    stages: tuple[str, ...] = ("base", "unlearned", "relearn")
    metric: str | None = None  # None: the target
    needs_none: bool = False  # undefined for a seed without the none control
    gated: bool = False
    # Divided by the record's own m_base: meaningless for a control whose base lacks the concept.
    over_base: bool = False
    cell: Callable[[Entry], tuple[str, float | None]] | None = None  # (text, sort value) instead of an estimate

    def key(self, runs: SeedRuns) -> tuple:
        key = runs.run.key(*self.stages)
        return key + runs.none.key(*self.stages) if self.needs_none and runs.none is not None else key


def _score(runs: SeedRuns) -> np.ndarray | None:
    return None if runs.none is None else paired.score(runs.run, runs.none)


def _resistance(runs: SeedRuns) -> np.ndarray | None:
    return paired.resistance(runs.recovery())


def _rt90_cell(entry: Entry) -> tuple[str, float | None]:
    return (entry.rt90.text(), entry.rt90.value) if entry.rt90 else ("–", None)


def _anamnesis_cell(entry: Entry) -> tuple[str, float | None]:
    return (entry.anamnesis.text(), entry.anamnesis.value) if entry.anamnesis else ("–", None)


BOARD_COLUMNS = (
    Column("score", "score", True, "removed vs none: log-step mean of (m_none(t) − m(t)) / m_base over the attack",
           per_seed=_score, needs_none=True, gated=True, over_base=True),
    Column("forgetting", "forgetting", True, "(m_base − m_unlearned) / m_base, signed",
           per_seed=lambda runs: paired.forgetting(runs.run), stages=("base", "unlearned"), gated=True),
    Column("resistance", "resistance", True, "1 − aurc of r(t) against the none control's curve",
           per_seed=_resistance, needs_none=True, gated=True),
    Column("rt90", "rt90", True, "Kaplan–Meier median over seeds of the first step with r(t) ≥ 0.9 against the "
           "none control (> N: the median seed did not reach it within the N steps of the attack)", cell=_rt90_cell),
    Column("resistance_vs_base", "resistance vs base", True, "1 − aurc of r(t) against m_base (the record's own)",
           per_seed=lambda runs: paired.resistance_vs_base(runs.run, runs.resolved), over_base=True),
    # Not better either way: how far the attack moved the target. Near 0 for the `none` control means the
    # attack did nothing, and then no resistance figure means anything.
    Column("relearned", "attack moved", True, "(m(T) − m_unlearned) / m_base at the attack's last step T",
           per_seed=lambda runs: paired.relearned(runs.run), gated=True, over_base=True),
)
# Where the task has a never-learned control: how fast the unlearned model regains the concept against how fast
# a model that never learned it learns it (a ratio of times, not of levels).
ANAMNESIS = Column("anamnesis", "anamnesis index", False,
                   f"steps to regain {ANAMNESIS_LEVEL:.0%} of the base level ÷ the never-learned control's steps to "
                   "reach it (Kaplan–Meier medians over seeds; < 1: relearns faster than a model that never learned "
                   "it learns; > or <: censored by the attack's end)", cell=_anamnesis_cell)


def collateral_column(metric: str, family: str | None = None, bound: float | None = None,
                      higher_is_better: bool = True) -> Column:
    """The column of one retain metric: its relative drop base → unlearned (a rise, for a loss)."""
    help_text = (f"relative {'rise' if family == 'nll' else 'drop'} of {metric}, base → unlearned (bound {bound:g})"
                 if bound is not None else f"relative change of {metric}, base → unlearned")
    return Column(f"collateral/{metric}", f"collateral {metric}", False, help_text,
                  per_seed=lambda runs: paired.collateral(runs.run, metric, higher_is_better),
                  stages=("base", "unlearned"), metric=metric, gated=True)


def own_columns(record: Record) -> list[Column]:
    """The columns a record alone defines (no control needed), then one per retain metric it reports."""
    directions = {m.name: m.higher_is_better for m in record.metrics}
    return [*(c for c in BOARD_COLUMNS if c.per_seed and not c.needs_none),
            *(collateral_column(m, higher_is_better=directions.get(m, True))
              for m in record.summary.collateral_by_metric)]


def rt90_of(runs: SeedRuns) -> tuple[int | None, str]:
    """(first step with r(t) ≥ 0.9 against none, its status) at one seed, on the point estimates."""
    curve = [(step, None if r is None else float(r[0])) for step, r in runs.recovery()]
    first = rt90(curve)
    return first, rt90_status(first, curve)


def first_passage(curve: list[tuple[int, float | None]], level: float) -> tuple[int | None, str]:
    """The first relearning step at which the target is at `level` or above: (step, "reached"), or
    (None, "not reached") within the attack."""
    for step, value in curve:
        if value is not None and value >= level:
            return step, "reached"
    return None, "not reached"


def anamnesis(seeds: list[SeedRuns]) -> Anamnesis | None:
    """Per seed, the level is ANAMNESIS_LEVEL × the run's own base target; the unlearned run's first passage
    (undefined where unlearning left it at or above the level: nothing to regain) and the never-learned
    control's at the same seed, each censored at the attack's end; None without the control."""
    mine, never = [], []
    limit = 0
    for runs in seeds:
        if runs.never is None:
            continue
        level = ANAMNESIS_LEVEL * float(runs.run.at("base")[0])
        curve = [(step, float(v[0])) for step, v in runs.run.curve()]
        control = [(step, float(v[0])) for step, v in runs.never.curve()]
        limit = max(limit, curve[-1][0], control[-1][0])
        below = float(runs.run.at("unlearned")[0]) < level
        mine.append(first_passage(curve, level) if below else (None, "undefined"))
        never.append(first_passage(control, level) if below else (None, "undefined"))
    if not mine:
        return None
    return Anamnesis(censored_median(mine, limit), censored_median(never, limit))
