"""The attacker matrix: every entry of a board against every attack configuration its records hold (each attack
with its options, a training attack at each of its learning rates), and each entry's worst case.

A cell is what the attack brought back at its declared budget (its last checkpoint):

    recovered(t) = forgetting − removed(t),  removed(t) = (m_none(t) − m(t)) / m_base

`removed(t)` is the share of the concept still missing after t steps of the attack compared with the intact
model attacked the same way (the `none` control at the same attack configuration and seed), so what the attack
does to a model that never forgot anything is not counted as the concept coming back; `recovered(t)` is how much
of the forgetting that undid (0 at the unlearned model). At one seed an entry's forgetting is shared by all its
attack configurations (one unlearning feeds them all), so the attack that recovers most is the one that leaves
least removed.

The worst case of an entry is the admissible (configuration, checkpoint) that recovers the most: admissible where
the attacked model keeps every retain metric within its collateral bound of the base model (the attacker's own
bound), at every seed. It is chosen on the validation third of the evaluation examples (bench.api.split) and
reported, with its paired interval, on the test two thirds, which the choice never sees: choosing the largest
of many noisy recoveries on the examples that report it would report the luckiest attack's noise. The unlearned
model itself (no attack, recovering 0) is always a candidate, so an entry every attack breaks before it recovers
anything has a worst case of 0. The matrix's cells are reported on the test part too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from bench.api.attack import refusal
from bench.api.controls import BASE_CONTROL, BUDGET_FREE_CONTROLS
from bench.api.record import Record
from bench.core.errors import UnknownNameError
from bench.core.plugins import ATTACKS, TASKS
from bench.results import paired
from bench.results.entry import Entry
from bench.results.inference import ALPHA, HOLM, Estimate, holm
from bench.results.paired import Resampler, RunDraws, SeedValue, over_seeds
from bench.results.ranking import paired_difference
from bench.results.spend import attacker_seconds

NO_ATTACK = "no attack"


def removed_at(run: RunDraws, none: RunDraws, step: int) -> np.ndarray:
    """(m_none(t) − m(t)) / m_base on the draws, at relearning step `step` of both runs."""
    base = run.at("base")
    mine, control = dict(run.curve()), dict(none.curve())
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(base) < paired.EPS, np.nan, (control[step] - mine[step]) / base)


def recovered_at(run: RunDraws, none: RunDraws, step: int) -> np.ndarray:
    return paired.forgetting(run) - removed_at(run, none, step)


def within_bounds(run: RunDraws, step: int, bounds: dict[str, float]) -> bool:
    """Whether every retain metric of the attacked model at `step` is within its family's bound of the base model
    (point estimates on the run's resampled part)."""
    for metric in run.record.metrics:
        if metric.role != "retain":
            continue
        after = dict(run.curve(metric.name))[step]
        drop = paired.relative_drop(run.at("base", metric.name), after, metric.higher_is_better)
        if not np.isfinite(drop[0]) or drop[0] > bounds[metric.family or "accuracy"]:
            return False
    return True


@dataclass(frozen=True)
class Candidate:
    """One (attack configuration, checkpoint) an entry met at every seed, as the choice sees it: the recovery on
    the validation examples (mean over seeds) and whether it stayed within the attacker's bound there."""

    attack: str
    step: int
    validation: float
    admissible: bool


def choose_worst(candidates: Sequence[Candidate]) -> Candidate | None:
    """The admissible candidate that recovers most on the validation examples; a tie keeps the first (the
    cheaper: candidates come in the order of their configurations and steps)."""
    best = None
    for c in candidates:
        if c.admissible and np.isfinite(c.validation) and (best is None or c.validation > best.validation):
            best = c
    return best


@dataclass
class Cell:
    attack: str
    step: int  # the declared budget: the configuration's last checkpoint
    unit: str
    recovered: Estimate  # on the test examples
    removed: Estimate
    admissible: bool  # the records' own bound held at that checkpoint at every seed
    seconds: float | None = None  # the attack's median wall time over the seeds, evaluations left out
    examples: int | None = None  # what a training attack trained on


@dataclass
class WorstCase:
    attack: str  # NO_ATTACK when no attack recovered anything admissibly on the validation examples
    step: int
    unit: str
    recovered: Estimate
    removed: Estimate
    validation: float
    candidates: int  # the (configuration, checkpoint) pairs it was chosen among
    inadmissible: int  # those beyond the attacker's bound on the validation examples
    test_admissible: bool  # the bound also holds on the test examples at the chosen checkpoint
    removed_draws: dict[int, SeedValue] = field(default_factory=dict)


@dataclass
class MatrixRow:
    entry: Entry
    cells: dict[str, Cell]
    worst: WorstCase | None
    seconds: float  # every record of the row (its unlearning once, every attack, their evaluations)
    spent: dict[str, float] = field(default_factory=dict)  # where the seconds went (see `where_the_time_goes`)
    # The attacker-effort curve: configurations tried, cheapest first (their attack seconds), and the most any
    # admissible checkpoint of them recovered so far on the validation examples (0: the unlearned model).
    effort: list[tuple[str, float]] = field(default_factory=list)
    rank: int | None = None  # worst-case rank group among the board's ranked entries
    leader_p: float | None = None


@dataclass
class Matrix:
    attacks: list[str]  # the columns, the default attack first
    default: str
    rows: list[MatrixRow]
    left_out: list[str]  # registered attacks with no column, and why
    pair_tests: int = 0

    def row(self, label: str) -> MatrixRow:
        return next(r for r in self.rows if r.entry.label == label)


def setting_key(record: Record) -> str:
    """What a row and its none control share: the configuration without seed, method, budget and attack."""
    from bench.results.leaderboard import pairing_key

    return pairing_key(record, with_budget=False, with_attack=False)


def defender_key(record: Record) -> tuple[str, str, str]:
    """What the rows are: the entry's configuration without its seed and attack, its method label and budget."""
    from bench.results.leaderboard import budget_label, method_label, pairing_key

    budget_free = record.method.name in BUDGET_FREE_CONTROLS
    return (pairing_key(record, with_budget=not budget_free, with_attack=False), method_label(record),
            "" if budget_free else budget_label(record))


def effort_curve(cells: dict[str, Cell], candidates: Sequence[Candidate]) -> list[tuple[str, float]]:
    """Best admissible validation recovery so far, as the attacker tries the configurations cheapest first (by
    their measured attack seconds; a tie, or a configuration without a measurement, in column order)."""
    order = sorted(cells, key=lambda a: cells[a].seconds if cells[a].seconds is not None else float("inf"))
    best, curve = 0.0, []
    for attack in order:
        found = [c.validation for c in candidates if c.attack == attack and c.admissible and np.isfinite(c.validation)]
        best = max([best, *found])
        curve.append((attack, best))
    return curve


def where_the_time_goes(records: Sequence[Record]) -> dict[str, float]:
    """A row's wall seconds by what they bought: the unlearning (once per seed: the other attacks load it), the
    unlearned model's evaluation (once per seed), the attacks' training and their checkpoints' evaluations."""
    unlearning: dict[int, float] = {}
    unlearned: dict[int, float] = {}
    attacking = evaluating = 0.0
    for r in records:
        seed = r.config["seed"]
        unlearning[seed] = max(unlearning.get(seed, 0.0), r.timings.get("unlearn_first", r.timings.get("unlearn", 0.0)))
        unlearned[seed] = max(unlearned.get(seed, 0.0), sum(s.seconds for s in r.stage("unlearned")))
        attacking += attacker_seconds(r) or 0.0
        evaluating += sum(s.seconds for s in r.stage("relearn") if s.step > 0)
    return {"unlearning": sum(unlearning.values()), "unlearned evaluation": sum(unlearned.values()),
            "attack training": attacking, "attack evaluations": evaluating}


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else None


def left_out_attacks(task: str, present: set[str]) -> list[str]:
    """Every built-in attack the matrix has no column of, with the reason where the task refuses it. A plug-in
    attack installed where the page is built is not listed: the page is what its records build, anywhere (a
    plug-in the records hold has its column)."""
    try:
        task_cls = TASKS.get(task)
    except UnknownNameError:  # a task that is not installed here: nothing to ask it
        task_cls = None
    out = []
    for name in sorted(e.name for e in ATTACKS.entries() if e.origin == "built-in"):
        if name not in present:
            refused = None if task_cls is None else refusal(task, task_cls, ATTACKS.get(name))
            out.append(f"{name}: {'refused, ' + refused if refused else 'not in these records'}")
    return out


def build_matrix(default_board: Any, records: Sequence[Record], bounds: dict[str, float]) -> Matrix | None:
    """The matrix of `default_board`'s entries × the attack configurations of the records of its task, concept,
    device and task version. A board of the default attack alone has a matrix of one column: its worst case is
    the strongest admissible checkpoint of that attack, and the page opens with its heatmap all the same."""
    from bench.results.leaderboard import attack_config, default_attack_config

    first = default_board.entries[0].records[0]
    same = [r for r in records if (r.task.name, r.task.concept, r.provenance.device["type"], r.task.version) ==
            (first.task.name, first.task.concept, first.provenance.device["type"], first.task.version)]
    default = default_attack_config(first)
    configs = sorted({attack_config(r) for r in same}, key=lambda a: (a != default, a))
    if not configs:
        return None
    # defender -> attack configuration -> seed -> record, and the none control's by configuration and seed
    runs: dict[tuple, dict[str, dict[int, Record]]] = defaultdict(lambda: defaultdict(dict))
    nones: dict[tuple[str, str], dict[int, Record]] = defaultdict(dict)
    for r in sorted(same, key=lambda r: r.created):  # the newest record of a configuration and seed wins
        runs[defender_key(r)][attack_config(r)][r.config["seed"]] = r
        if r.method.name == BASE_CONTROL:
            nones[(setting_key(r), attack_config(r))][r.config["seed"]] = r
    test, validation = Resampler(part="test"), Resampler(part="validation")
    rows = []
    for entry in default_board.entries:
        by_attack = runs.get(defender_key(entry.records[0]), {})
        setting = setting_key(entry.records[0])
        seeds = [r.config["seed"] for r in entry.records]
        cells: dict[str, Cell] = {}
        candidates: list[tuple[Candidate, str, int, str]] = []
        for attack in configs:
            mine, control = by_attack.get(attack, {}), nones.get((setting, attack), {})
            if not all(s in mine and s in control for s in seeds):
                continue
            pairs = {s: (test.run(mine[s]), test.run(control[s])) for s in seeds}
            checks = {s: (validation.run(mine[s]), validation.run(control[s])) for s in seeds}
            steps = sorted(set.intersection(*({t for t, _ in run.curve()} & {t for t, _ in none.curve()}
                                              for run, none in pairs.values())) - {0})
            if not steps:
                continue
            unit = mine[seeds[0]].attack.unit
            last = steps[-1]
            cells[attack] = Cell(attack, last, unit, _estimate(pairs, recovered_at, last), _estimate(pairs, removed_at, last),
                                 all(last not in mine[s].inadmissible_steps(bounds) for s in seeds),
                                 _median([attacker_seconds(mine[s]) for s in seeds]),
                                 mine[seeds[0]].attack.info.get("examples"))
            for step in steps:
                value = float(np.mean([recovered_at(run, none, step)[0] for run, none in checks.values()]))
                admissible = all(within_bounds(run, step, bounds) for run, _ in checks.values())
                candidates.append((Candidate(attack, step, value, admissible), attack, step, unit))
        worst = _worst_case(entry, candidates, by_attack, nones, setting, seeds, test, bounds)
        row_records = [r for by_seed in by_attack.values() for r in by_seed.values()]
        rows.append(MatrixRow(entry, cells, worst, sum(r.timings.get("total", 0.0) for r in row_records),
                              where_the_time_goes(row_records), effort_curve(cells, [c for c, *_ in candidates])))
    matrix = Matrix(configs, default, rows, left_out_attacks(first.task.name, {r.attack.name for r in same}))
    matrix.pair_tests = _worst_case_ranks(matrix, test.run(first).crossed(first.summary.target))
    return matrix


def _estimate(pairs: dict[int, tuple[RunDraws, RunDraws]], figure, step: int) -> Estimate:
    run = next(iter(pairs.values()))[0]
    return over_seeds([SeedValue(s, figure(r, n, step), r.key("base", "unlearned", "relearn") +
                                 n.key("base", "unlearned", "relearn")) for s, (r, n) in pairs.items()],
                      crossed=run.crossed(run.target))


def _worst_case(entry: Entry, candidates, by_attack, nones, setting: str, seeds: list[int], test: Resampler,
                bounds: dict[str, float]) -> WorstCase | None:
    if not candidates:
        return None
    chosen = choose_worst([c for c, *_ in candidates])
    inadmissible = sum(1 for c, *_ in candidates if not c.admissible)
    if chosen is None or chosen.validation <= 0:
        # Nothing recovers on the validation examples within the bound: the unlearned model is the worst case.
        runs = {s: test.run(r) for s, r in by_attack[next(iter(by_attack))].items() if s in seeds}
        forgetting = over_seeds([SeedValue(s, paired.forgetting(r), r.key("base", "unlearned"))
                                 for s, r in runs.items()], crossed=next(iter(runs.values())).crossed(
            next(iter(runs.values())).target))
        draws = {s: SeedValue(s, paired.forgetting(r), r.key("base", "unlearned")) for s, r in runs.items()}
        crossed = next(iter(runs.values())).crossed(next(iter(runs.values())).target)
        zero = over_seeds([SeedValue(s, np.zeros_like(v.draws), v.key) for s, v in draws.items()], crossed=crossed)
        return WorstCase(NO_ATTACK, 0, "steps", zero, forgetting, 0.0 if chosen is None else chosen.validation,
                         len(candidates), inadmissible, True, draws)
    pairs = {s: (test.run(by_attack[chosen.attack][s]), test.run(nones[(setting, chosen.attack)][s])) for s in seeds}
    unit = next(u for c, a, st, u in candidates if c is chosen)
    draws = {s: SeedValue(s, removed_at(r, n, chosen.step), r.key("base", "unlearned", "relearn") +
                          n.key("base", "unlearned", "relearn")) for s, (r, n) in pairs.items()}
    return WorstCase(chosen.attack, chosen.step, unit, _estimate(pairs, recovered_at, chosen.step),
                     _estimate(pairs, removed_at, chosen.step), chosen.validation, len(candidates), inadmissible,
                     all(within_bounds(r, chosen.step, bounds) for r, _ in pairs.values()), draws)


def _worst_case_ranks(matrix: Matrix, crossed: bool) -> int:
    """Rank the board's ranked entries by what their worst case leaves removed: sorted by it, an entry joins its
    group's leader unless the paired test of the two worst cases, Holm-corrected over every pair, separates them
    (the board's rule, with the worst case in place of the default attack's score). Returns the family's size."""
    rows = [r for r in matrix.rows if r.entry.rank is not None and r.worst is not None and r.worst.removed.mean
            is not None]
    tests = {(id(a), id(b)): paired_difference(a.worst.removed_draws, b.worst.removed_draws, crossed=crossed)
             for a, b in combinations(rows, 2)}
    adjusted = holm({pair: t.p for pair, t in tests.items() if t.p is not None})
    group, leader = 0, None
    for row in sorted(rows, key=lambda r: (-r.worst.removed.mean, r.entry.label)):
        p = None
        if leader is not None:
            p = adjusted.get((id(leader), id(row)), adjusted.get((id(row), id(leader))))
            row.leader_p = p
        if leader is None or (p is not None and p < ALPHA):
            group, leader = group + 1, row
        row.rank = group
    return len(tests)


RULE = (f"The worst case of an entry is the (attack configuration, checkpoint) that recovers the most of its "
        f"forgetting among those that kept every retain metric within its collateral bound (the attacker's own "
        f"bound) at every seed, chosen on the validation third of the evaluation examples and reported on the other "
        f"two thirds, which the choice never saw; the unlearned model itself (no attack, recovering 0) is always a "
        f"candidate. Recovered = forgetting − removed, removed = (m_none(t) − m(t)) / m_base: what the attack "
        f"brought back beyond what it does to the intact model attacked the same way. The worst-case rank orders "
        f"the board's ranked entries by what their worst case leaves removed; an entry joins its group's leader "
        f"unless the paired test of the two, {HOLM}-corrected over every pair at α = {ALPHA:g}, separates them.")
