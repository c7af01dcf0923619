"""Leaderboards from records: entries, their controls, statistics over seeds and evaluation examples, and
the ranking rule.

An *entry* is every record of one method (with its options) under one configuration that differs only
in the seed. Its *controls* are the records of `random` (the same number of units, drawn at random) under
the same configuration and seeds, and of `none` (nothing pruned, relearned the same way; it ignores the
budget, so one run per seed controls every budget). Every figure is computed per seed first (pairing a
method's seed with the control's seed), then summarised as a mean with a 95% interval that covers the
seeds (Student's t) and the evaluation examples (the records' paired bootstrap), added in quadrature.

Figures:
  score       removed vs none: the log-step mean over the relearning curve of (m_none(t) - m(t)) / m_base,
              the share of the concept still missing compared with the unpruned model relearned the same
              way (signed). Relearning alone moves the target (on NER it costs the intact model part of its
              F1), so a curve's own fall under the attack is not removal: the `none` control subtracts it.
  forgetting  (m_base - m_unlearned) / m_base, signed (a seed that forgot nothing counts as what it is).
  collateral  one column per retain metric: its relative drop (a rise, for the mean token NLL).
  resistance  1 - aurc of r(t) against the none control: (m(t) - m_unlearned) / (m_none(t) - m_unlearned),
              defined where forgetting is resolved and the denominator exceeds its evaluation noise.
  rt90        the median over seeds of the first step where that r(t) >= 0.9; "> N" when not reached within
              the N steps of the attack, "–" when undefined.
  resistance vs base   the record's own resistance: r(t) against m_base (the papers' definition).

The ranking rule is RANKING_RULE below, written on every page.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.api.metrics import aurc, log_step_mean, recovery, rt90, rt90_status
from bench.api.record import Record
from bench.core.errors import BenchError, UnknownNameError
from bench.harness.sweep import (
    BASE_CONTROL,
    BUDGET_FREE_CONTROLS,
    CONTROLS,
    NEVER_LEARNED_CONTROL,
    RANDOM_CONTROL,
)
from bench.results.statistics import SeedStat, stat

# The collateral bound of each retain-metric family: an accuracy or F1 may lose at most 10% of its base
# value; the mean token NLL may rise by at most 10% (for SmolLM2 on news text, perplexity x1.4).
DEFAULT_BOUNDS = {"accuracy": 0.10, "nll": 0.10}
LEADERBOARD_SCHEMA = 2


@dataclass(frozen=True)
class Column:
    """One reported figure, in one row: its name and label, which direction is better, what it means, what
    its interval covers, how a seed's value is computed from a record (and the `none` control's record at
    that seed), whether the regression gate holds it, and a cell of its own where it is not a mean ± an
    interval. Pages (Markdown, HTML, JSON), the entries' statistics and the gate all read the columns."""

    name: str
    label: str
    higher_is_better: bool
    help: str
    covers: str = "seeds and evaluation examples"
    # (record, none control at its seed or None) -> (this seed's value, its evaluation half-width)
    per_seed: Callable[[Record, Record | None], tuple[float | None, float | None]] | None = None
    needs_none: bool = False  # undefined for a seed without the none control
    gated: bool = False
    # Divided by the record's own m_base: meaningless for a control whose base lacks the concept.
    over_base: bool = False
    cell: Callable[[Entry], tuple[str, float | None]] | None = None  # (text, sort value) instead of mean ± interval


UNDEFINED_NOTE = (
    "A – is a figure that is undefined, never a zero: r(t), rt90 and resistance need the forgetting resolved "
    "from the evaluation noise (its paired 95% bootstrap interval excludes 0) and, against the none control, a "
    "gap between the control's curve and the unlearned model that exceeds its noise. rt90 \"> N\" means not "
    "reached within the attack's N steps."
)

# What may differ between the records of one entry (or between an entry and its controls): nothing that the
# result depends on except the seed, the method and the method's options; `device` stays "auto" in configs.
PER_RUN = ("seed", "method", "method_options")
BUDGET = ("fraction", "k")


def pairing_key(record: Record, *, with_budget: bool = True) -> str:
    drop = PER_RUN + (() if with_budget else BUDGET)
    config = {k: v for k, v in record.config.items() if k not in drop}
    # The device type is part of the run id but not of the config ("auto"): an entry never mixes a GPU seed
    # (bf16 autocast) with a CPU seed, nor pairs a method with a control run elsewhere.
    return json.dumps({"config": config, "task": [record.task.name, record.task.version,
                                                  record.task.data_fingerprint],
                       "model": record.model.fingerprint, "device": record.provenance.device["type"]},
                      sort_keys=True, default=str)


def budget_label(record: Record) -> str:
    """The budget in the method's family's units: a share or number of units, or optimizer steps."""
    config = record.config
    if config.get("fraction") is not None:
        return f"{config['fraction']:g} of units"
    if config.get("k") is not None:
        return f"k = {config['k']}"
    return record.unlearning.steps_text() or "none"


def _mask_counts(records: list[Record]) -> tuple[int | None, int | None, int | None]:
    """(units pruned, the fewest over seeds; units the budget allowed; units in all) or Nones without a mask."""
    masks = [r.mask for r in records]
    if any(m is None for m in masks):
        return None, None, None
    first = masks[0]
    return (min(m.k for m in masks), first.k if first.k_requested is None else first.k_requested, first.total)


def method_label(record: Record) -> str:
    """The method's own name for what ran (its options included); records from before methods named
    themselves show the name and the explicit options."""
    if record.method.label:
        return record.method.label
    options = record.config.get("method_options") or {}
    if not options:
        return record.method.name
    return f"{record.method.name} ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})"


def _numbers(values: set) -> str:
    return "/".join(str(n) for n in sorted(values, key=str))


def half_width(bounds: list[float] | None) -> float | None:
    return None if bounds is None else (bounds[1] - bounds[0]) / 2


def target_curve(record: Record) -> dict[int, tuple[float | None, float | None]]:
    """step -> (target value, its evaluation half-width) over the relearning stages."""
    target = record.summary.target
    return {s.step: (s.scores.get(target), half_width(s.intervals.get(target))) for s in record.stage("relearn")}


def recovery_vs_none(record: Record, none: Record) -> list[tuple[int, float | None]]:
    """r(t) = (m(t) - m_unlearned) / (m_none(t) - m_unlearned) at the steps both share; None where the
    forgetting is unresolved or the denominator is within its evaluation noise (the half-widths of the two
    scores added in quadrature)."""
    mine, control = target_curve(record), target_curve(none)
    m_unlearned, unlearned_hw = mine[0]
    out = []
    for step in sorted(set(mine) & set(control)):
        (m_t, _), (m_none, none_hw) = mine[step], control[step]
        gap_noise = math.hypot(unlearned_hw or 0.0, none_hw or 0.0) if None not in (unlearned_hw, none_hw) else math.inf
        resolved = record.summary.forgetting_resolved and None not in (m_t, m_none, m_unlearned)
        out.append((step, recovery(m_t, m_none, m_unlearned) if resolved and m_none - m_unlearned > gap_noise else None))
    return out


def versus_never_learned(record: Record, never: Record) -> float | None:
    """The log-step mean of the target over the attack (steps both records share), this run's ÷ the never-learned
    control's; None where that control's mean is not above its own evaluation noise at its last step (it did not
    learn the concept within the attack, so there is nothing to compare with)."""
    mine, control = target_curve(record), target_curve(never)
    steps = sorted(set(mine) & set(control))
    area = log_step_mean([(s, mine[s][0]) for s in steps])
    control_area = log_step_mean([(s, control[s][0]) for s in steps])
    noise = control[steps[-1]][1] if steps else None
    if area is None or control_area is None or control_area <= (noise or 0.0) or control_area < 1e-12:
        return None
    return area / control_area


def _summary_figure(name: str):
    """A figure the record's own summary holds, with its bootstrap half-width."""
    def per_seed(r: Record, none: Record | None) -> tuple[float | None, float | None]:
        return getattr(r.summary, name), half_width(r.summary.intervals.get(name))
    return per_seed


def _score(r: Record, none: Record | None) -> tuple[float | None, float | None]:
    removed, removed_none = r.summary.removed, none.summary.removed
    score = None if removed is None or removed_none is None else removed - removed_none
    hw_m = half_width(r.summary.intervals.get("removed"))
    hw_n = half_width(none.summary.intervals.get("removed"))
    return score, None if hw_m is None or hw_n is None else math.hypot(hw_m, hw_n)


def _resistance(r: Record, none: Record | None) -> tuple[float | None, float | None]:
    area = aurc(recovery_vs_none(r, none))
    return None if area is None else 1.0 - area, None


def _rt90_cell(entry: Entry) -> tuple[str, float | None]:
    return (entry.rt90.text(), entry.rt90.value) if entry.rt90 else ("–", None)


BOARD_COLUMNS = (
    Column("score", "score", True, "removed vs none: log-step mean of (m_none(t) − m(t)) / m_base over the attack",
           per_seed=_score, needs_none=True, gated=True, over_base=True),
    Column("forgetting", "forgetting", True, "(m_base − m_unlearned) / m_base, signed",
           per_seed=_summary_figure("forgetting"), gated=True),
    Column("resistance", "resistance", True, "1 − aurc of r(t) against the none control's curve", covers="seeds",
           per_seed=_resistance, needs_none=True, gated=True),
    Column("rt90", "rt90", True, "median first step with r(t) ≥ 0.9 against the none control (> N: not within N)",
           covers="seeds (median)", cell=_rt90_cell),
    Column("resistance_vs_base", "resistance vs base", True, "1 − aurc of r(t) against m_base (the record's own)",
           per_seed=_summary_figure("resistance"), over_base=True),
    # Not better either way: how far the attack moved the target. Near 0 for the `none` control means the
    # attack did nothing, and then no resistance figure means anything.
    Column("relearned", "attack moved", True, "(m(T) − m_unlearned) / m_base at the attack's last step T",
           per_seed=_summary_figure("relearned"), gated=True, over_base=True),
)
# Where the task has a never-learned control: how much of the concept the model carries through the attack,
# against a model that never learned it and is taught it by the same attack (1: as if never learned).
VS_NEVER = Column("vs_never", "vs never-learned", False,
                  "log-step mean of the target over the attack ÷ the never-learned control's (1: relearns as a model "
                  "that never learned the concept; above: faster)", covers="seeds")
COLUMN_BY_NAME = {c.name: c for c in (*BOARD_COLUMNS, VS_NEVER)}
# Figures computed across two runs without a joint bootstrap: their intervals cover the seeds alone.
SEEDS_ONLY = {c.name for c in COLUMN_BY_NAME.values() if c.covers == "seeds"}
CONTROL_METHODS = (*CONTROLS, NEVER_LEARNED_CONTROL)


def collateral_column(metric: str, family: str | None = None, bound: float | None = None) -> Column:
    """The column of one retain metric: its relative drop base → unlearned (a rise, for a loss)."""
    def per_seed(r: Record, none: Record | None) -> tuple[float | None, float | None]:
        drop = r.summary.collateral_by_metric.get(metric)
        return drop, half_width(r.summary.intervals.get(f"collateral/{metric}"))
    help_text = (f"relative {'rise' if family == 'nll' else 'drop'} of {metric}, base → unlearned (bound {bound:g})"
                 if bound is not None else f"relative change of {metric}, base → unlearned")
    return Column(f"collateral/{metric}", f"collateral {metric}", False, help_text, per_seed=per_seed, gated=True)


def own_columns(r: Record) -> list[Column]:
    """The columns a record alone defines (no control needed), then one per retain metric it reports."""
    return [*(c for c in BOARD_COLUMNS if c.per_seed and not c.needs_none),
            *(collateral_column(m) for m in r.summary.collateral_by_metric)]


def seed_statistics(records: list[Record]) -> dict[str, SeedStat]:
    """column label -> mean ± 95% interval over the records (seeds) of each figure a record alone defines,
    with its evaluation error: what the seeds table of `bench show` prints below the stages."""
    if not records:
        raise BenchError("no records to aggregate")
    columns = own_columns(records[0])
    values = [[c.per_seed(r, None) for r in records] for c in columns]
    return {c.label: stat([v for v, _ in pairs], [hw for _, hw in pairs])
            for c, pairs in zip(columns, values, strict=True)}


def per_seed_figures(r: Record, none: Record | None) -> dict[str, tuple[float | None, float | None]]:
    """figure -> (this seed's value, its evaluation half-width). The record's own figures first, then one per
    retain metric it reports, then those paired with the none control (undefined without it): the order the
    leaderboard's JSON keeps."""
    paired = [c for c in BOARD_COLUMNS if c.per_seed and c.needs_none]
    out = {c.name: c.per_seed(r, none) for c in own_columns(r)}
    out.update({c.name: c.per_seed(r, none) if none is not None else (None, None) for c in paired})
    if r.method.name == NEVER_LEARNED_CONTROL:
        # Its base is a model without the concept (a target near 0): a figure divided by it measures that
        # denominator, not unlearning (toxicity's read -4.0 and 12.3), so it is undefined rather than shown.
        out.update({c.name: (None, None) for c in BOARD_COLUMNS if c.over_base})
    return out


@dataclass(frozen=True)
class Rt90:
    """rt90 over seeds as a censored median: "> N" (not reached within N steps) sorts after every step."""

    value: float | None  # the median step; math.inf when the median seed did not reach 0.9
    attack_steps: int
    reached: int
    censored: int
    undefined: int

    def text(self) -> str:
        if self.value is None:
            return "–"
        shown = f"> {self.attack_steps}" if math.isinf(self.value) else f"{self.value:g}"
        known = self.reached + self.censored
        return shown if self.undefined == 0 else f"{shown} ({known}/{known + self.undefined} defined)"


def rt90_over_seeds(values: list[tuple[int | None, str]], attack_steps: int) -> Rt90:
    """(rt90, status) per seed; the median of the defined seeds, with not-reached as +inf, or None when most
    seeds are undefined."""
    known = sorted(math.inf if status == "not reached" else float(v) for v, status in values if status != "undefined")
    reached = sum(status == "reached" for _, status in values)
    censored = sum(status == "not reached" for _, status in values)
    undefined = len(values) - reached - censored
    value = statistics.median_low(known) if known and len(known) >= undefined else None
    return Rt90(value, attack_steps, reached, censored, undefined)


@dataclass
class Entry:
    task: str
    concept: str
    method: str  # the method's name
    label: str  # name with its options, what the tables show
    model: str
    budget: str
    k: int | None  # units pruned (the mask's k, the fewest over seeds; 0 for the base control; None: no mask)
    k_requested: int | None  # units the budget allowed; more than k when the method ranked fewer units than that
    total_units: int | None
    key: str  # pairing key: the configuration without seed, method and options
    records: list[Record]  # one per seed, in seed order
    values: dict[str, list[float | None]] = field(default_factory=dict)  # figure -> per-seed value
    eval_widths: dict[str, list[float | None]] = field(default_factory=dict)  # figure -> per-seed eval half-width
    stats: dict[str, SeedStat] = field(default_factory=dict)
    rt90: Rt90 | None = None
    resolved: int = 0  # seeds whose forgetting is resolved from the evaluation noise
    curve: list[tuple[int, SeedStat]] = field(default_factory=list)  # step -> r(t) vs none over seeds
    target_curve: list[tuple[int, SeedStat]] = field(default_factory=list)  # step -> target metric over seeds
    rank: int | None = None  # rank group (entries whose score intervals overlap share one)
    status: str = ""  # "ranked", or why not

    @property
    def is_control(self) -> bool:
        return self.method in CONTROL_METHODS

    @property
    def budget_size(self) -> float:
        """Where the budget sits on its family's axis, for ordering: units allowed, or optimizer steps × rate."""
        if self.k_requested is not None:
            return float(self.k_requested)
        budget = self.records[0].unlearning.budget
        return float(budget.get("steps") or 0) * float(budget.get("lr") or 0)

    @property
    def short_of_budget(self) -> bool:
        """The method ranked fewer units than its budget, so it pruned fewer (never filled in silently)."""
        return self.k is not None and self.k_requested is not None and self.k < self.k_requested

    @property
    def seeds(self) -> list[int]:
        return [r.config["seed"] for r in self.records]

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.records]

    @property
    def entry_id(self) -> str:
        """Stable across runs of the same configuration: what `bench check` matches baselines on."""
        budget = "any budget" if self.method in BUDGET_FREE_CONTROLS else self.budget
        return f"{self.task}/{self.concept} · {self.label} · {self.model} · {budget}"


@dataclass
class Board:
    task: str
    concept: str
    target: str
    entries: list[Entry]
    bounds: dict[str, float]  # retain-metric family -> collateral bound
    retain: dict[str, str]  # retain metric -> family
    left_out: str | None = None  # what of the pinned grid the board lacks, and why (bench.results.scope)
    # Where a task's records come from more than one setting (device, task version), one board per setting,
    # named by it: its runs are paired, ranked and plotted among themselves only. None: the task's only setting.
    split: tuple[str, int] | None = None  # (device type, task version)

    @property
    def variant(self) -> str | None:
        return f"{self.split[0]}, task version {self.split[1]}" if self.split else None

    def title(self) -> str:
        return f"{self.task} ({self.concept})" + (f": {self.variant}" if self.variant else "")

    def figures(self) -> list[Column]:
        """The fixed figures, then one collateral column per retain metric."""
        collateral = [collateral_column(m, family, self.bounds[family]) for m, family in self.retain.items()]
        never = [VS_NEVER] if any(e.method == NEVER_LEARNED_CONTROL for e in self.entries) else []
        return [BOARD_COLUMNS[0], BOARD_COLUMNS[1], *collateral, *BOARD_COLUMNS[2:], *never]

    def setting(self) -> str:
        """What every entry of the board shares, in one line: how the numbers were made."""
        records = [r for e in self.entries for r in e.records]
        cfg = records[0].config
        devices = sorted({r.provenance.device["type"] for r in records})
        # A run from a source tree without an installed package records no version.
        versions = sorted({str(r.provenance.versions.get("relearn-bench") or "unknown (source tree)") for r in records})
        task_versions = sorted({r.task.version for r in records})
        options = ", ".join(f"{k}={v}" for k, v in sorted(cfg["task_options"].items())) or "defaults"
        taken = sorted({r.summary.relearn_steps for r in records}, key=str)
        return (f"profile {cfg['profile']}; relearning {', '.join(map(str, taken))} steps taken at lr "
                f"{cfg['relearn_lr']:g} (constant after {cfg.get('relearn_warmup_steps')} warmup steps), batch "
                f"{cfg['batch_size']}, evaluated at steps {', '.join(map(str, sorted({s.step for r in records for s in r.stage('relearn')})))}; "
                f"task options: {options}; {cfg['unit_space']} units, {cfg['mask_mode']} masks; "
                f"{len(records)} records on {'/'.join(devices)}; task version {', '.join(map(str, task_versions))}; "
                f"relearn-bench {', '.join(versions)}")

    def resolution(self) -> str:
        """The evaluation's achieved resolution of the target at the base model, from the records. The
        never-learned control's base is a model without the concept (a target of 0, resolved to ± 0): not the
        resolution of the models the board compares."""
        bases = [r.stage("base")[0] for e in self.entries if e.method != NEVER_LEARNED_CONTROL for r in e.records]
        widths = [half_width(base.intervals.get(self.target)) for base in bases]
        sizes = {base.sizes.get(self.target) for base in bases}
        support = {base.support.get(self.target) for base in bases}
        defined = [w for w in widths if w is not None]
        if not defined:
            return "the records carry no evaluation intervals"
        on = "" if None in support else (f"support {_numbers(support)}: the gold entities, questions or completions "
                                         f"the target is computed on; ")
        return (f"the target's 95% half-width at the base model is {min(defined):.3f}–{max(defined):.3f} ({on}"
                f"{_numbers(sizes)} evaluation examples resampled)")

    def ranked(self) -> list[Entry]:
        return sorted((e for e in self.entries if e.rank is not None), key=lambda e: (e.rank, -e.stats["score"].mean))

    def unranked(self) -> list[Entry]:
        return [e for e in self.entries if e.rank is None and not e.is_control]

    def controls(self) -> list[Entry]:
        return [e for e in self.entries if e.is_control]


def _group(records: list[Record]) -> dict[tuple[str, str, str], list[Record]]:
    groups: dict[tuple[str, str, str], dict[int, Record]] = defaultdict(dict)
    for record in records:
        # A weight-editing method's budget (steps) is in its options, not in the unit budget: the budget label
        # keeps its budgets apart.
        budget_free = record.method.name in BUDGET_FREE_CONTROLS
        seeds = groups[(pairing_key(record, with_budget=not budget_free), method_label(record),
                        "" if budget_free else budget_label(record))]
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
    k, k_requested, total = _mask_counts(records)
    entry = Entry(task=first.task.name, concept=first.task.concept, method=first.method.name,
                  label=method_label(first), model=first.model.ref, budget=budget_label(first),
                  k=k, k_requested=k_requested, total_units=total, key=pairing_key(first), records=records)
    values: dict[str, list[float | None]] = defaultdict(list)
    widths: dict[str, list[float | None]] = defaultdict(list)
    rt90s = []
    for r in records:
        none = controls.get(BASE_CONTROL, {}).get(r.config["seed"])
        for name, (value, width) in per_seed_figures(r, none).items():
            values[name].append(value)
            widths[name].append(width)
        never = controls.get(NEVER_LEARNED_CONTROL, {}).get(r.config["seed"])
        if never is not None:
            values[VS_NEVER.name].append(versus_never_learned(r, never))
            widths[VS_NEVER.name].append(None)
        curve = recovery_vs_none(r, none) if none is not None else []
        first_step = rt90(curve)
        rt90s.append((first_step, rt90_status(first_step, curve)))
    entry.values, entry.eval_widths = dict(values), dict(widths)
    entry.stats = {name: stat(vals, None if name in SEEDS_ONLY else widths[name]) for name, vals in values.items()}
    entry.rt90 = rt90_over_seeds(rt90s, max(r.summary.relearn_steps or 0 for r in records))
    entry.resolved = sum(r.summary.forgetting_resolved for r in records)
    none_by_seed = controls.get(BASE_CONTROL, {})
    entry.curve = _curve(records, lambda r: recovery_vs_none(r, none_by_seed[r.config["seed"]])
                         if r.config["seed"] in none_by_seed else [])
    entry.target_curve = _curve(records, lambda r: [(s.step, s.scores[r.summary.target]) for s in r.stage("relearn")])
    return entry


def overlaps(a: SeedStat, b: SeedStat) -> bool:
    """Whether the two 95% intervals overlap (a missing interval overlaps everything: nothing is resolved)."""
    if a.mean is None or b.mean is None or a.ci95 is None or b.ci95 is None:
        return True
    return a.mean - a.ci95 <= b.mean + b.ci95 and b.mean - b.ci95 <= a.mean + a.ci95


def below(a: SeedStat, b: SeedStat) -> bool:
    """Whether a's 95% interval lies wholly below b's: resolved, but in the wrong direction."""
    return not overlaps(a, b) and a.mean < b.mean


def collateral_problem(e: Entry, retain: dict[str, str], bounds: dict[str, float]) -> str | None:
    for metric, family in retain.items():
        s = e.stats.get(f"collateral/{metric}")
        if s is None or s.mean is None:
            return f"collateral on {metric} undefined"
        if s.mean > bounds[family]:
            return f"collateral on {metric} {s.mean:.3f} > bound {bounds[family]:g}"
    return None


def rank(entries: list[Entry], retain: dict[str, str], bounds: dict[str, float]) -> None:
    """Apply the ranking rule in place (RANKING_RULE)."""
    # The random control of an entry is the one run under the entry's own configuration and budget (its pairing
    # key): a board that holds records of two configurations (devices, task versions) never crosses them.
    randoms = {e.key: e for e in entries if e.method == RANDOM_CONTROL}
    # The none control runs at every seed of a configuration; an entry with fewer seeds is a sweep still under way,
    # and its interval would be judged on less evidence than the entries beside it.
    none_seeds = {pairing_key(e.records[0], with_budget=False): len(e.records) for e in entries
                  if e.method == BASE_CONTROL}
    candidates = []
    for e in entries:
        if e.is_control:
            e.status = "control"
            continue
        random = randoms.get(e.key)
        problem = collateral_problem(e, retain, bounds)
        expected = none_seeds.get(pairing_key(e.records[0], with_budget=False), 0)
        if e.stats["score"].mean is None:
            e.status = "not ranked: no score (needs the none control at every seed)"
        elif len(e.records) < expected:
            e.status = (f"not ranked: {len(e.records)} of the none control's {expected} seeds "
                        f"(a sweep still under way)")
        elif problem:
            e.status = f"not ranked: {problem}"
        elif e.k is None:  # weight editing: no random draw of the same size exists; the none control forgets 0
            nothing = SeedStat(0.0, 0.0, 1, ci95=0.0)
            if e.stats["forgetting"].mean is None or overlaps(e.stats["forgetting"], nothing):
                e.status = "not distinguishable from none (the forgetting interval includes 0)"
            elif below(e.stats["forgetting"], nothing):
                # Resolved from none, but the concept got stronger: an interval that excludes 0 from below is
                # no evidence of unlearning.
                e.status = "not ranked: it strengthens the concept (the forgetting interval lies below 0)"
            else:
                candidates.append(e)
        elif random is None:
            e.status = "not ranked: no random control at this budget"
        elif overlaps(e.stats["forgetting"], random.stats["forgetting"]):
            e.status = "not distinguishable from random (forgetting intervals overlap)"
        elif below(e.stats["forgetting"], random.stats["forgetting"]):
            e.status = "not ranked: it forgets less than random pruning (the forgetting intervals do not overlap)"
        else:
            candidates.append(e)
    # Each method at its best budget within the bounds, per configuration; its other budgets are listed, not ranked.
    best: dict[tuple[str, str], Entry] = {}
    for e in candidates:
        method = (e.label, pairing_key(e.records[0], with_budget=False))
        if method not in best or e.stats["score"].mean > best[method].stats["score"].mean:
            best[method] = e
    for e in candidates:
        chosen = best[(e.label, pairing_key(e.records[0], with_budget=False))]
        if chosen is not e:
            e.status = f"not ranked: {chosen.budget} is this method's best budget"
    ranked = sorted(best.values(), key=lambda e: (-e.stats["score"].mean, e.label))
    group, leader = 0, None
    for e in ranked:
        if leader is None or not overlaps(e.stats["score"], leader.stats["score"]):
            group, leader = group + 1, e
        e.rank, e.status = group, "ranked"


def build_boards(records: list[Record], bounds: dict[str, float] | None = None) -> list[Board]:
    """One board per task and concept (and per device and task version, where the records hold several), with
    its entries ranked."""
    if not records:
        raise BenchError("no records to build a leaderboard from")
    bounds = {**DEFAULT_BOUNDS, **(bounds or {})}
    groups = _group(records)
    controls_by_key: dict[str, dict[str, dict[int, Record]]] = defaultdict(dict)
    for (key, _label, _budget), recs in groups.items():
        if recs[0].method.name in CONTROL_METHODS and not recs[0].config.get("method_options"):
            controls_by_key[key][recs[0].method.name] = {r.config["seed"]: r for r in recs}
    by_task: dict[tuple[str, str, str, int], list[Entry]] = defaultdict(list)
    for recs in groups.values():
        first = recs[0]
        controls = {**controls_by_key.get(pairing_key(first, with_budget=False), {}),
                    **controls_by_key.get(pairing_key(first), {})}
        entry = _entry(recs, controls)
        by_task[(entry.task, entry.concept, first.provenance.device["type"], first.task.version)].append(entry)
    settings: dict[tuple[str, str], int] = defaultdict(int)
    for task, concept, _device, _version in by_task:
        settings[(task, concept)] += 1
    boards = []
    for (task, concept, device, version), entries in sorted(by_task.items()):
        metrics = entries[0].records[0].metrics
        retain = {m.name: m.family or "accuracy" for m in metrics if m.role == "retain"}
        rank(entries, retain, bounds)
        # Within a rank group, the higher score first (as `ranked()` lists them); then the rest by name.
        entries.sort(key=lambda e: (e.rank is None, e.rank or 0, -e.stats["score"].mean if e.rank is not None else 0,
                                    e.is_control, e.label, e.budget_size))
        target = entries[0].records[0].summary.target
        split = (device, version) if settings[(task, concept)] > 1 else None
        boards.append(Board(task, concept, target, entries, bounds, retain, split=split))
    return boards


def _stat_json(s: SeedStat) -> dict[str, Any]:
    return {"mean": s.mean, "ci95": s.ci95, "seed_ci95": s.seed_ci95, "eval_ci95": s.eval_ci95, "sd": s.sd, "n": s.n}


def board_json(board: Board) -> dict[str, Any]:
    return {
        "task": board.task, "concept": board.concept, "variant": board.variant, "target": board.target,
        "collateral_bounds": board.bounds, "retain": board.retain, "resolution": board.resolution(),
        "left_out": board.left_out,
        "entries": [{
            "id": e.entry_id, "method": e.method, "label": e.label, "model": e.model, "budget": e.budget, "k": e.k,
            "k_requested": e.k_requested,
            "rank": e.rank, "status": e.status, "seeds": e.seeds, "run_ids": e.run_ids,
            "forgetting_resolved": e.resolved, "rt90": e.rt90.text() if e.rt90 else None,
            "values": e.values, "eval_half_widths": e.eval_widths,
            "stats": {name: _stat_json(s) for name, s in e.stats.items()},
        } for e in board.entries],
    }


def leaderboard_json(boards: list[Board]) -> dict[str, Any]:
    return {"schema": LEADERBOARD_SCHEMA, "ranking_rule": RANKING_RULE, "boards": [board_json(b) for b in boards]}


RANKING_RULE = (
    "Score = removed vs none: the share of the concept still missing, averaged over the relearning curve "
    "(log-spaced steps, from the unlearned model to the attack's last step), compared with the unpruned model "
    "relearned the same way; signed, never clipped. An entry is ranked when it has run at every seed of its none control, every retain metric's mean "
    "collateral is within its family's bound, and its forgetting interval lies above the random control's at the "
    "same budget (else: \"not distinguishable from random\", or, wholly below it, \"forgets less than random\"); "
    "a weight-editing method, which has no random counterpart, when its forgetting interval lies above 0, the none "
    "control's (else: \"not distinguishable from none\", or, wholly below 0, \"strengthens the concept\"). Each method is ranked at its best such budget (units pruned, or optimizer steps and learning rate). "
    "Ranked entries whose score intervals overlap the interval of their group's leader share a rank. Every cell "
    "is the mean over seeds ± the half-width of a 95% interval covering the seeds (Student's t) and the "
    "evaluation examples (paired bootstrap), added in quadrature, except where a column says it covers seeds only."
)


def parse_bounds(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """`--bound FAMILY=X` pairs as bounds; an unknown family or a value that is not a number is refused."""
    bounds = {}
    for family, value in pairs:
        if family not in DEFAULT_BOUNDS:
            raise UnknownNameError("collateral family", family, DEFAULT_BOUNDS)
        try:
            bounds[family] = float(value)
        except ValueError:
            raise BenchError(f"--bound {family}={value}: not a number") from None
    return bounds
