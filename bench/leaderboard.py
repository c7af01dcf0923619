"""Leaderboards from records: entries, their controls, statistics over seeds, and the ranking rule.

An *entry* is every record of one method (with its options) under one configuration that differs only
in the seed. Its *controls* are the records of `random` (the same number of units, drawn at random) and
`none` (nothing pruned, relearned the same way) under the same configuration and seeds. Every figure is
computed per seed first (ratios pair a method's seed with the control's seed), then summarised as a mean
with a 95% confidence interval.

The ranking rule (written on every page):
  score = forgetting × resistance, the fraction of the concept that stays removed, averaged over the
  relearning curve (log-spaced in steps, like aurc): forgetting says how much went, resistance how
  much of that stays gone while the attacker retrains; a seed that forgot nothing scores 0 (it has no
  r(t), but nothing stays removed). Entries are ranked by mean score, highest first,
  if their mean collateral damage is within the bound; an entry beyond it, or one that forgets nothing,
  is listed but not ranked. Controls are listed apart.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.errors import BenchError
from bench.multiseed import SeedStat, stat
from bench.record import Record
from bench.sweep import BASE_CONTROL, CONTROLS, RANDOM_CONTROL

DEFAULT_COLLATERAL_BOUND = 0.25
LEADERBOARD_SCHEMA = 1


@dataclass(frozen=True)
class Figure:
    """One reported figure: its name, what it means, and which direction is better."""

    name: str
    label: str
    higher_is_better: bool
    help: str


FIGURES = (
    Figure("score", "score", True, "forgetting × resistance: the share of the concept that stays removed while relearning"),
    Figure("forgetting", "forgetting", True, "(m_base − m_unlearned) / m_base"),
    Figure("collateral", "collateral", False, "mean relative drop of the retain metrics, base → unlearned"),
    Figure("rt90", "rt90", True, "first relearning step with r(t) ≥ 0.9 (never: not within the budget)"),
    Figure("aurc", "aurc", False, "area under r(t) over log(1 + step), in [0, 1]"),
    Figure("resistance", "resistance", True, "1 − aurc"),
    Figure("aurc_vs_random", "aurc ÷ random", False, "aurc over the random control's at the same seed (< 1: relearns slower)"),
    Figure("residual", "residual vs none", True,
           "(m_none(T) − m(T)) / m_none(T) at the last step: how much of the concept is still missing compared "
           "with the unpruned model relearned the same way"),
    # Defined even where the random control forgot nothing (and so has no aurc to divide by): compares
    # where the concept ends up after the attack, with random pruning of the same size as the yardstick.
    Figure("residual_vs_random", "residual vs random", True,
           "(m_random(T) − m(T)) / m_random(T) at the last step, paired per seed: how much less of the concept "
           "there is after relearning than after random pruning of the same size relearned the same way"),
)

# Why a cell can be empty: every metric is None where it is undefined, never 0 (bench.metrics).
UNDEFINED_NOTE = (
    "A – is a figure that is undefined, never a zero: r(t), rt90, aurc and resistance need something "
    "forgotten; aurc ÷ random also needs the random control to have forgotten something at the same seed, "
    "which at small budgets it often has not."
)
FIGURE_BY_NAME = {f.name: f for f in FIGURES}

# What may differ between the records of one entry (or between an entry and its controls): nothing that the
# result depends on except the seed, the method and the method's options; `device` stays "auto" in configs.
PER_RUN = ("seed", "method", "method_options")


def pairing_key(record: Record) -> str:
    config = {k: v for k, v in record.config.items() if k not in PER_RUN}
    return json.dumps({"config": config, "task": [record.task["name"], record.task["version"],
                                                  record.task["data_fingerprint"]],
                       "model": record.model["fingerprint"]}, sort_keys=True, default=str)


def budget_label(config: dict[str, Any]) -> str:
    return f"{config['fraction']:g} of units" if config.get("fraction") is not None else f"k = {config['k']}"


def method_label(record: Record) -> str:
    """The method's own name for what ran (its options included); records from before methods named
    themselves show the name and the explicit options."""
    if record.method.get("label"):
        return record.method["label"]
    options = record.config.get("method_options") or {}
    if not options:
        return record.method["name"]
    return f"{record.method['name']} ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})"


def final_target(record: Record) -> float:
    return record.stage("relearn")[-1].scores[record.summary["target"]]


def seed_score(forgetting: float | None, resistance: float | None) -> float | None:
    """forgetting × resistance. A seed that forgot nothing has no r(t), hence no resistance, but its score is
    known: nothing was removed, so nothing stays removed (0). Leaving it out would average an entry's score
    over its good seeds only."""
    if forgetting is not None and forgetting <= 0:
        return 0.0
    return None if forgetting is None or resistance is None else forgetting * resistance


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or abs(b) < 1e-12 else a / b


@dataclass
class Entry:
    task: str
    concept: str
    method: str  # the method's name
    label: str  # name with its options, what the tables show
    model: str
    budget: str
    k: int  # units pruned (the mask's k, the fewest over seeds; 0 for the base control)
    k_requested: int  # units the budget allowed; more than k when the method ranked fewer units than that
    total_units: int
    key: str  # pairing key: the configuration without seed, method and options
    records: list[Record]  # one per seed, in seed order
    values: dict[str, list[float | None]] = field(default_factory=dict)  # figure -> per-seed value
    stats: dict[str, SeedStat] = field(default_factory=dict)
    curve: list[tuple[int, SeedStat]] = field(default_factory=list)  # step -> r(t) over seeds
    target_curve: list[tuple[int, SeedStat]] = field(default_factory=list)  # step -> target metric over seeds
    rank: int | None = None
    status: str = ""  # "ranked", or why not

    @property
    def is_control(self) -> bool:
        return self.method in CONTROLS

    @property
    def short_of_budget(self) -> bool:
        """The method ranked fewer units than its budget, so it pruned fewer (never filled in silently)."""
        return self.k < self.k_requested

    @property
    def seeds(self) -> list[int]:
        return [r.config["seed"] for r in self.records]

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.records]

    @property
    def entry_id(self) -> str:
        """Stable across runs of the same configuration: what `bench check` matches baselines on."""
        return f"{self.task}/{self.concept} · {self.label} · {self.model} · {self.budget}"


@dataclass
class Board:
    task: str
    concept: str
    target: str
    entries: list[Entry]
    collateral_bound: float

    def setting(self) -> str:
        """What every entry of the board shares, in one line: how the numbers were made."""
        records = [r for e in self.entries for r in e.records]
        cfg = records[0].config
        devices = sorted({r.provenance["device"]["type"] for r in records})
        versions = sorted({str(r.provenance["versions"].get("relearn-bench")) for r in records})
        options = ", ".join(f"{k}={v}" for k, v in sorted(cfg["task_options"].items())) or "defaults"
        return (f"profile {cfg['profile']}; relearning {cfg['relearn_max_steps'] or 'all'} steps max at lr "
                f"{cfg['relearn_lr']:g}, batch {cfg['batch_size']}, evaluated at log{cfg['eval_log_base']} steps; "
                f"task options: {options}; {cfg['unit_space']} units, {cfg['mask_mode']} masks; "
                f"{len(records)} records on {'/'.join(devices)}; relearn-bench {', '.join(versions)}")

    def ranked(self) -> list[Entry]:
        return sorted((e for e in self.entries if e.rank is not None), key=lambda e: e.rank)

    def unranked(self) -> list[Entry]:
        return [e for e in self.entries if e.rank is None and not e.is_control]

    def controls(self) -> list[Entry]:
        return [e for e in self.entries if e.is_control]


def _group(records: list[Record]) -> dict[tuple[str, str], list[Record]]:
    groups: dict[tuple[str, str], dict[int, Record]] = defaultdict(dict)
    for record in records:
        seeds = groups[(pairing_key(record), method_label(record))]
        seed = record.config["seed"]
        # Two records of one configuration and seed differ only in when they ran (e.g. --force): keep the newest.
        if seed not in seeds or record.created > seeds[seed].created:
            seeds[seed] = record
    return {key: [by_seed[s] for s in sorted(by_seed)] for key, by_seed in groups.items()}


def _curve(records: list[Record], values) -> list[tuple[int, SeedStat]]:
    """Per relearning step shared by all records, the statistic of `values(record)[step]` over seeds."""
    per_record = [dict(values(r)) for r in records]
    steps = [s for s in per_record[0] if all(s in p for p in per_record)]
    return [(step, stat([p[step] for p in per_record])) for step in steps]


def _entry(records: list[Record], controls: dict[str, dict[int, Record]]) -> Entry:
    first = records[0]
    entry = Entry(task=first.task["name"], concept=first.task["concept"], method=first.method["name"],
                  label=method_label(first), model=first.model["ref"], budget=budget_label(first.config),
                  k=min(r.mask["k"] for r in records), k_requested=first.mask.get("k_requested", first.mask["k"]),
                  total_units=first.mask["total"], key=pairing_key(first), records=records)
    values: dict[str, list[float | None]] = defaultdict(list)
    for r in records:
        s, seed = r.summary, r.config["seed"]
        for name in ("forgetting", "collateral", "rt90", "aurc", "resistance"):
            values[name].append(s.get(name))
        values["score"].append(seed_score(s.get("forgetting"), s.get("resistance")))
        rnd, base = controls.get(RANDOM_CONTROL, {}).get(seed), controls.get(BASE_CONTROL, {}).get(seed)
        values["aurc_vs_random"].append(ratio(s.get("aurc"), rnd.summary.get("aurc")) if rnd else None)
        for name, control in (("residual", base), ("residual_vs_random", rnd)):
            m_control = None if control is None else final_target(control)
            values[name].append(None if m_control is None else ratio(m_control - final_target(r), m_control))
    entry.values = dict(values)
    entry.stats = {name: stat(vals) for name, vals in values.items()}
    entry.curve = _curve(records, lambda r: [(step, value) for step, value in r.summary["recovery"]])
    entry.target_curve = _curve(records, lambda r: [(s.step, s.scores[r.summary["target"]]) for s in r.stage("relearn")])
    return entry


def rank(entries: list[Entry], collateral_bound: float) -> None:
    """Apply the ranking rule in place (see the module's docstring)."""
    candidates = []
    for e in entries:
        if e.is_control:
            e.status = "control"
            continue
        forgetting, collateral, score = e.stats["forgetting"].mean, e.stats["collateral"].mean, e.stats["score"].mean
        if collateral is not None and collateral > collateral_bound:
            e.status = f"not ranked: collateral {collateral:.3f} > bound {collateral_bound:g}"
        elif forgetting is None or forgetting <= 0 or score is None:
            e.status = "not ranked: forgets nothing"
        else:
            candidates.append(e)
    candidates.sort(key=lambda e: (-e.stats["score"].mean, e.stats["collateral"].mean or 0.0, e.label))
    for i, e in enumerate(candidates, 1):
        e.rank, e.status = i, "ranked"


def build_boards(records: list[Record], collateral_bound: float = DEFAULT_COLLATERAL_BOUND) -> list[Board]:
    """One board per task and concept, entries of every configuration found, ranked."""
    if not records:
        raise BenchError("no records to build a leaderboard from")
    groups = _group(records)
    controls_by_key: dict[str, dict[str, dict[int, Record]]] = defaultdict(dict)
    for (key, _label), recs in groups.items():
        if recs[0].method["name"] in CONTROLS and not recs[0].config.get("method_options"):
            controls_by_key[key][recs[0].method["name"]] = {r.config["seed"]: r for r in recs}
    by_task: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for (key, _label), recs in groups.items():
        entry = _entry(recs, controls_by_key.get(key, {}))
        by_task[(entry.task, entry.concept)].append(entry)
    boards = []
    for (task, concept), entries in sorted(by_task.items()):
        rank(entries, collateral_bound)
        entries.sort(key=lambda e: (e.rank is None, e.rank or 0, e.is_control, e.label, e.budget))
        target = entries[0].records[0].summary["target"]
        boards.append(Board(task, concept, target, entries, collateral_bound))
    return boards


def board_json(board: Board) -> dict[str, Any]:
    return {
        "task": board.task, "concept": board.concept, "target": board.target,
        "collateral_bound": board.collateral_bound,
        "entries": [{
            "id": e.entry_id, "method": e.method, "label": e.label, "model": e.model, "budget": e.budget, "k": e.k,
            "k_requested": e.k_requested,
            "rank": e.rank, "status": e.status, "seeds": e.seeds, "run_ids": e.run_ids,
            "values": e.values,
            "stats": {name: {"mean": s.mean, "ci95": s.ci95, "sd": s.sd, "n": s.n} for name, s in e.stats.items()},
        } for e in board.entries],
    }


def leaderboard_json(boards: list[Board]) -> dict[str, Any]:
    return {"schema": LEADERBOARD_SCHEMA, "ranking_rule": RANKING_RULE, "boards": [board_json(b) for b in boards]}


RANKING_RULE = (
    "Score = forgetting × resistance: the share of the concept that stays removed, averaged over the relearning "
    "curve (resistance = 1 − aurc, the area under r(t) over log-spaced steps); a seed that forgot nothing "
    "scores 0. Entries are ranked by mean score "
    "over seeds, highest first, when their mean collateral damage (the relative drop of the retain metrics) is at "
    "most the bound; an entry beyond the bound, or one that forgets nothing, is listed but not ranked. Every cell "
    "is the mean over seeds ± the half-width of its 95% confidence interval (Student's t). `random` (the same "
    "number of units drawn at random) and `none` (nothing pruned, relearned the same way) are the controls."
)
