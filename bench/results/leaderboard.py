"""Leaderboards from records: entries, their controls, every figure with its paired interval, and the verdicts.

An *entry* is every record of one method (with its options) under one configuration that differs only
in the seed. Its *controls* are the records of `random` (the same number of units, drawn at random), of `none`
(nothing removed, relearned the same way; it ignores the budget, so one run per seed controls every budget) and,
where the task can have one, of `never-learned` (the model prepared without the concept), under the same
configuration and seeds. Every figure (bench.results.columns) is computed per seed, on the board's joint
resampling of the evaluation examples (bench.results.paired), paired with the controls of that seed, and
combined over the seeds that differ into an estimate with a 95% interval (bench.results.inference). The ranking
rule (bench.results.ranking, RANKING_RULE below) is written on every page.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.api.controls import (
    BASE_CONTROL,
    BUDGET_FREE_CONTROLS,
    CONTROL_METHODS,
    NEVER_LEARNED_CONTROL,
    RANDOM_CONTROL,
    RETAIN_TUNING_CONTROL,
)
from bench.api.metrics import COLLATERAL_BOUNDS
from bench.api.record import Record, with_options
from bench.core.errors import BenchError, UnknownNameError
from bench.results import paired
from bench.results.columns import (
    ANAMNESIS,
    BOARD_COLUMNS,
    Column,
    SeedRuns,
    anamnesis,
    collateral_column,
    own_columns,
    rt90_of,
)
from bench.results.entry import Entry
from bench.results.inference import ALPHA, HOLM, UNDEFINED, Estimate, censored_median
from bench.results.paired import (
    Resampler,
    SeedValue,
    accuracy_drop_over_seeds,
    over_seeds,
)
from bench.results.ranking import Power, board_power, control_verdicts, rank_groups

# The collateral bound of each retain-metric family: an accuracy or F1 may lose at most 10% of its base
# value; the mean token NLL may rise by at most 10% (for SmolLM2 on news text, perplexity x1.4).
DEFAULT_BOUNDS = COLLATERAL_BOUNDS
# 3: every interval paired and counted once (joint bootstrap, replicates that differ), p-values, Holm-corrected
# verdicts, the board's power; the anamnesis index in place of "vs never-learned".
LEADERBOARD_SCHEMA = 3

UNDEFINED_NOTE = (
    "A – is a figure that is undefined, never a zero: r(t), rt90 and resistance need the forgetting resolved "
    "above 0 at that seed (a one-sided test at 2.5%: exact McNemar for an accuracy, else the bootstrap's error) "
    "and, against the none control, a gap between the control's curve and the unlearned model above its own "
    "joint evaluation noise. rt90 \"> N\" means the median seed did not reach it within the attack's N steps."
)

# What may differ between the records of one entry (or between an entry and its controls): nothing that the
# result depends on except the seed, the method and the method's options; `device` stays "auto" in configs.
PER_RUN = ("seed", "method", "method_options")
BUDGET = ("fraction", "k")
# What one attack configuration is (the attacker matrix's columns): the attack, its options and its step budget.
ATTACK_FIELDS = ("attack", "attack_options", "relearn_lr", "relearn_steps", "relearn_checkpoints",
                 "relearn_warmup_steps")


def pairing_key(record: Record, *, with_budget: bool = True, with_attack: bool = True) -> str:
    """What records must share to be compared: the configuration without the seed and the method (nor, on request,
    the unit budget or the attack), the task's version and data, the model and the device type."""
    drop = PER_RUN + (() if with_budget else BUDGET) + (() if with_attack else ATTACK_FIELDS)
    config = {k: v for k, v in record.config.items() if k not in drop}
    # The device type is part of the run id but not of the config ("auto"): an entry never mixes a GPU seed
    # (bf16 autocast) with a CPU seed, nor pairs a method with a control run elsewhere.
    return json.dumps({"config": config, "task": [record.task.name, record.task.version,
                                                  record.task.data_fingerprint],
                       "model": record.model.fingerprint, "device": record.provenance.device["type"]},
                      sort_keys=True, default=str)


def step_budget(record: Record) -> str:
    """A weight-editing run's training budget (steps, learning rate, batch, warmup), what retain-tuning must match
    to control it; "" for a unit budget."""
    budget = record.unlearning.budget
    if budget.get("steps") is None:
        return ""
    return json.dumps([budget.get(k) for k in ("steps", "lr", "batch_size", "warmup_steps")])


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


DEFAULT_ATTACK = "finetune"


def attack_config(record: Record) -> str:
    """The attack configuration as the attacker matrix names it: the attack with its options, and a training
    attack's learning rate (its steps are its checkpoints, every one of them a budget)."""
    label = record.attack_label()
    return f"{label} at lr {record.config['relearn_lr']:g}" if record.attack.unit == "steps" else label


def default_attack_config(record: Record) -> str:
    """The attack a board ranks by: the fine-tune at the learning rate the run's profile gives its task (the
    configuration every earlier board used); a task that is not installed here: the fine-tune at RunConfig's."""
    from bench.core.plugins import TASKS
    from bench.harness.config import FIELDS, PROFILES

    lr = FIELDS["relearn_lr"].default
    profile = record.config.get("profile")
    if profile in PROFILES:
        lr = PROFILES[profile].get("relearn_lr", lr)
        try:
            lr = TASKS.get(record.task.name).profile_overrides.get(profile, {}).get("relearn_lr", lr)
        except UnknownNameError:
            pass
    return f"{DEFAULT_ATTACK} at lr {lr:g}"


def method_label(record: Record) -> str:
    """The method's own name for what ran (its options included); records from before methods named
    themselves show the name and the explicit options."""
    if record.method.label:
        return record.method.label
    return with_options(record.method.name, record.config.get("method_options"))


def _numbers(values: set) -> str:
    return "/".join(str(n) for n in sorted(values, key=str))


@dataclass
class Board:
    task: str
    concept: str
    target: str
    entries: list[Entry]
    bounds: dict[str, float]  # retain-metric family -> collateral bound
    retain: dict[str, str]  # retain metric -> family
    left_out: str | None = None  # what of the pinned grid the board lacks, and why (bench.results.scope)
    power: Power | None = None
    control_tests: int = 0  # the Holm family of entry-vs-control tests
    pair_tests: int = 0  # the Holm family of pairwise score comparisons
    base_half_widths: list[float] = field(default_factory=list)  # the target's 95% half-width at each base model
    # Where a task's records come from more than one setting (device, task version), one board per setting,
    # named by it: its runs are paired, ranked and plotted among themselves only. None: the task's only setting.
    # (device type, task version, attack): an attack other than the default fine-tune is named on its own board
    # (the attacker matrix across attacks is another view, not a mixture of them in one ranking).
    split: tuple[str, int, str] | None = None
    # Whether its attack configuration is the default one (the fine-tune at the profile's rate): a board of
    # another attack is named by it.
    attack_is_default: bool = True
    # Which examples its figures are computed on: "test" leaves out the third that chose each method's
    # configuration (bench.api.split, `bench frontier`); "all" every example.
    examples: str = "all"
    # The attacker matrix (bench.results.matrix) of the default attack's board, where the records hold other attack
    # configurations of its entries.
    matrix: Any = None

    @property
    def variant(self) -> str | None:
        if not self.split:
            return None
        device, version, attack = self.split
        return f"{device}, task version {version}" + ("" if self.attack_is_default else f", attack {attack}")

    def title(self) -> str:
        return f"{self.task} ({self.concept})" + (f": {self.variant}" if self.variant else "")

    @property
    def slug(self) -> str:
        """The name of the board's page files."""
        if not self.split:
            return page_slug(self.task, self.concept)
        device, version, attack = self.split
        return page_slug(self.task, self.concept, device, version, None if self.attack_is_default else attack)

    def figures(self) -> list[Column]:
        """The fixed figures, then one collateral column per retain metric."""
        collateral = [collateral_column(m, family, self.bounds[family]) for m, family in self.retain.items()]
        never = [ANAMNESIS] if any(e.method == NEVER_LEARNED_CONTROL for e in self.entries) else []
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
        # Labels a model made (the silver NER corpus) are said on the page, with the model that made them.
        labels = sorted({str(r.task.data["labels"]) for r in records if "labels" in r.task.data})
        data = f"; labels {'; '.join(labels)}" if labels else ""
        return (f"profile {cfg['profile']}; relearning {', '.join(map(str, taken))} steps taken at lr "
                f"{cfg['relearn_lr']:g} (constant after {cfg.get('relearn_warmup_steps')} warmup steps), batch "
                f"{cfg['batch_size']}, evaluated at steps {', '.join(map(str, sorted({s.step for r in records for s in r.stage('relearn')})))}; "
                f"task options: {options}; {cfg['unit_space']} units, {cfg['mask_mode']} masks; "
                f"{len(records)} records on {'/'.join(devices)}; task version {', '.join(map(str, task_versions))}; "
                f"relearn-bench {', '.join(versions)}{data}")

    def resolution(self) -> str:
        """The evaluation's achieved resolution of the target at the base model, from the records. The
        never-learned control's base is a model without the concept (a target of 0, resolved to ± 0): not the
        resolution of the models the board compares."""
        bases = [r.stage("base")[0] for e in self.entries if e.method != NEVER_LEARNED_CONTROL for r in e.records]
        sizes = {base.sizes.get(self.target) for base in bases}
        support = {base.support.get(self.target) for base in bases}
        defined = self.base_half_widths
        if not defined:
            return "the records carry no per-example columns to resample"
        on = "" if None in support else (f"support {_numbers(support)}: the gold entities, questions or completions "
                                         f"the target is computed on; ")
        part = "" if self.examples == "all" else ", of which the test part, two thirds, is resampled"
        return (f"the target's 95% half-width at the base model is {min(defined):.3f}–{max(defined):.3f} ({on}"
                f"{_numbers(sizes)} evaluation examples{part or ' resampled'})")

    def attacker_bound(self) -> str:
        """Where the attack went beyond the attacker's own bound (a retain metric's drop from the base model past
        the collateral bound at a relearning checkpoint): those checkpoints left the model unusable."""
        beyond = []
        for e in self.entries:
            seeds = [(r.config["seed"], steps) for r in e.records if (steps := r.inadmissible_steps(self.bounds))]
            if seeds:
                unit = e.records[0].attack.unit
                beyond.append(f"{e.label} at {e.budget}: " + ", ".join(
                    f"seed {seed} at {unit} {', '.join(map(str, steps))}" for seed, steps in seeds))
        older = any(r.attack.inadmissible is None for e in self.entries for r in e.records)
        how = "; records written before the bound are checked from their own stages" if older else ""
        head = f"Attacker's bound (the collateral bounds, against the base model at every relearning checkpoint{how})"
        if not beyond:
            return f"{head}: held throughout."
        return (f"{head}: the attack went beyond it, so these checkpoints are inadmissible (what it recovered there "
                "is not the concept coming back to a usable model): " + "; ".join(beyond) + ".")

    def rule(self) -> str:
        """The board's error rate and its correction, with the sizes of its two families of tests."""
        return (f"Verdicts are two-sided paired tests at α = {ALPHA:g}, {HOLM}-corrected within each family: "
                f"{self.control_tests} entry-vs-control test{'s' if self.control_tests != 1 else ''} (every budget) "
                f"and {self.pair_tests} pairwise score comparison{'s' if self.pair_tests != 1 else ''} of the "
                "rankable entries (every budget, so choosing each method's best budget is covered).")

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




def _note(column: Column, seeds: list[SeedRuns]) -> str | None:
    """What a base → unlearned figure's cell must say: nothing was removed (the unlearned model is the base
    model at every seed), or the target sits at its floor (0 at every seed: forgetting is 1 by definition)."""
    if column.needs_none and all(s.none is not None and s.none.record is s.run.record for s in seeds):
        return "by definition"  # the none control against itself
    if column.stages != ("base", "unlearned"):
        return None
    if all(s.run.key("base") == s.run.key("unlearned") for s in seeds):
        return "nothing removed"
    if column.name == "forgetting" and all(float(s.run.at("unlearned")[0]) == 0.0 for s in seeds):
        return "floor"
    return None


def figure_estimate(column: Column, seeds: list[SeedRuns]) -> tuple[list[float | None], Estimate]:
    """Per-seed point values and the estimate over seeds of one column."""
    values, per_seed = [], []
    for s in seeds:
        draws = None if column.needs_none and s.none is None else column.per_seed(s)
        values.append(None if draws is None or not np.isfinite(draws[0]) else float(draws[0]))
        if draws is not None:
            per_seed.append(SeedValue(s.seed, draws, column.key(s)))
    metric = column.metric or seeds[0].run.target
    estimate = over_seeds(per_seed, crossed=seeds[0].run.crossed(metric), note=_note(column, seeds))
    if column.stages == ("base", "unlearned") and estimate.note != "nothing removed":
        higher = next((m.higher_is_better for m in seeds[0].run.record.metrics if m.name == metric), True)
        estimate = accuracy_drop_over_seeds([s.run for s in seeds], metric, higher, estimate)
        estimate = estimate if estimate.note or not _note(column, seeds) else _with_note(estimate, _note(column, seeds))
    return values, estimate


def _with_note(estimate: Estimate, note: str | None) -> Estimate:
    from dataclasses import replace

    return replace(estimate, note=note)


def _curve_estimates(seeds: list[SeedRuns], points) -> list[tuple[int, Estimate]]:
    """Per step shared by every seed, the estimate over seeds of `points(seed_runs)` = [(step, draws|None)]."""
    per_seed = [(s, dict(points(s))) for s in seeds]
    if not per_seed:
        return []
    steps = [step for step in per_seed[0][1] if all(step in p for _, p in per_seed)]
    crossed = seeds[0].run.crossed(seeds[0].run.target)
    out = []
    for step in steps:
        values = [SeedValue(s.seed, p[step], s.run.key("base", "unlearned", "relearn") +
                            (s.none.key("base", "unlearned", "relearn") if s.none is not None else ()))
                  for s, p in per_seed if p[step] is not None]
        out.append((step, over_seeds(values, crossed=crossed)))
    return out


def _entry(records: list[Record], controls: dict[str, dict[int, Record]], resampler: Resampler) -> Entry:
    first = records[0]
    k, k_requested, total = _mask_counts(records)
    entry = Entry(task=first.task.name, concept=first.task.concept, method=first.method.name,
                  label=method_label(first), model=first.model.ref, budget=budget_label(first),
                  k=k, k_requested=k_requested, total_units=total, key=pairing_key(first), records=records,
                  setting_key=pairing_key(first, with_budget=False))

    def control(name: str, seed: int):
        record = controls.get(name, {}).get(seed)
        return None if record is None else resampler.run(record)

    seeds = []
    for r in records:
        seed = r.config["seed"]
        run = resampler.run(r)
        seeds.append(SeedRuns(seed, run, control(BASE_CONTROL, seed), control(NEVER_LEARNED_CONTROL, seed),
                              control(RANDOM_CONTROL, seed), paired.resolved(run),
                              retain_tuning=control(RETAIN_TUNING_CONTROL, seed)))
    columns = [*own_columns(first), *(c for c in BOARD_COLUMNS if c.per_seed and c.needs_none)]
    never = first.method.name == NEVER_LEARNED_CONTROL
    for column in columns:
        if never and column.over_base:
            # Its base is a model without the concept (a target near 0): a figure divided by it measures that
            # denominator, not unlearning (toxicity's read -4.0 and 12.3), so it is undefined rather than shown.
            entry.values[column.name], entry.stats[column.name] = [None] * len(seeds), UNDEFINED
            continue
        entry.values[column.name], entry.stats[column.name] = figure_estimate(column, seeds)
    entry.resolved = sum(s.resolved for s in seeds)
    entry.removed_draws = {s.seed: SeedValue(s.seed, paired.removed(s.run), s.run.key("base", "unlearned", "relearn"))
                           for s in seeds}
    entry.control, entry.control_test = _control_test(entry, seeds)
    attack = max(r.summary.relearn_steps or 0 for r in records)
    entry.rt90 = censored_median([rt90_of(s) if s.none is not None else (None, "undefined") for s in seeds], attack)
    entry.anamnesis = None if never else anamnesis(seeds)
    entry.curve = _curve_estimates([s for s in seeds if s.none is not None], lambda s: s.recovery())
    entry.target_curve = _curve_estimates(seeds, lambda s: s.run.curve())
    return entry


def _control_test(entry: Entry, seeds: list[SeedRuns]) -> tuple[str, Estimate | None]:
    """The entry's control and its forgetting against the control's at each seed: random pruning of the same size
    for a pruning method; for a weight-editing method with a retain term, the retain-tuning control at the same
    step budget where the board has it at every seed (what the retain data alone do to the concept), else the
    none control's 0 (its forgetting itself)."""
    if entry.is_control:
        return "none", None
    crossed = seeds[0].run.crossed(seeds[0].run.target)
    if entry.k is None:
        if uses_retain_data(entry.records) and all(s.retain_tuning is not None for s in seeds):
            values = [SeedValue(s.seed, paired.forgetting(s.run) - paired.forgetting(s.retain_tuning),
                                s.run.key("base", "unlearned") + s.retain_tuning.key("base", "unlearned"))
                      for s in seeds]
            return RETAIN_TUNING_CONTROL, over_seeds(values, crossed=crossed)
        return BASE_CONTROL, entry.stats["forgetting"]
    values = [SeedValue(s.seed, paired.forgetting(s.run) - paired.forgetting(s.random),
                        s.run.key("base", "unlearned") + s.random.key("base", "unlearned"))
              for s in seeds if s.random is not None]
    return RANDOM_CONTROL, over_seeds(values, crossed=crossed) if values else None


def uses_retain_data(records: list[Record]) -> bool:
    """Whether a weight-editing method trained on the retain data (its records say so; records from before they
    did: not known, so no)."""
    return all(r.method.info.get("retain_term") is True for r in records)


def collateral_problem(e: Entry, retain: dict[str, str], bounds: dict[str, float]) -> str | None:
    """Why the entry is not within the collateral bound: over it, undefined, or not established (the upper end
    of its 95% interval is past the bound)."""
    for metric, family in retain.items():
        s = e.stats.get(f"collateral/{metric}")
        bound = bounds[family]
        if s is None or s.mean is None:
            return f"collateral on {metric} undefined"
        if s.mean > bound:
            return f"collateral on {metric} {s.mean:.3f} > bound {bound:g}"
        if s.high is None or s.high > bound:
            upper = "it has no interval" if s.high is None else f"its 95% interval reaches {s.high:.3f}"
            return f"within the collateral bound not established on {metric} ({upper}; bound {bound:g})"
    return None


def objective_problem(e: Entry) -> str | None:
    """Why the entry is not what its method is named for: at some seed the method did not reach its own objective
    (the rule its records state, bench.api.method.ObjectiveRule). Records from before objectives were recorded
    say nothing, and are not judged."""
    missed = [r for r in e.records if (r.method.info.get("objective") or {}).get("reached") is False]
    if not missed:
        return None
    seeds = ", ".join(str(r.config["seed"]) for r in sorted(missed, key=lambda r: r.config["seed"]))
    return f"did not reach its objective at seed {seeds} ({missed[0].method.info['objective']['rule']})"


def rank(entries: list[Entry], retain: dict[str, str], bounds: dict[str, float], crossed: bool) -> tuple[int, int]:
    """Apply the ranking rule in place (RANKING_RULE); return the sizes of its two families of tests."""
    # The none control runs at every seed of a configuration; an entry with fewer seeds is a sweep still under way,
    # and its interval would be judged on less evidence than the entries beside it.
    none_seeds = {e.setting_key: len(e.records) for e in entries if e.method == BASE_CONTROL}
    eligible = []
    for e in entries:
        if e.is_control:
            e.status = "control"
            continue
        expected = none_seeds.get(e.setting_key, 0)
        missed = objective_problem(e)
        if missed:
            e.status = f"not ranked: {missed}"
        elif e.stats["score"].mean is None:
            e.status = "not ranked: no score (needs the none control at every seed)"
        elif len(e.records) < expected:
            e.status = (f"not ranked: {len(e.records)} of the none control's {expected} seeds "
                        f"(a sweep still under way)")
        else:
            eligible.append(e)
    tested = control_verdicts(eligible)
    candidates = []
    for e in tested:
        problem = collateral_problem(e, retain, bounds)
        if problem:
            e.status = f"not ranked: {problem}"
        else:
            candidates.append(e)
    pairs = rank_groups(candidates, crossed)
    family = sum(1 for e in eligible if e.control_test is not None and e.control_test.p is not None)
    return family, len(pairs)


def build_boards(records: list[Record], bounds: dict[str, float] | None = None,
                 resampler: Resampler | None = None) -> list[Board]:
    """One board per task and concept (and per device and task version, where the records hold several), with
    its entries ranked."""
    if not records:
        raise BenchError("no records to build a leaderboard from")
    bounds = {**DEFAULT_BOUNDS, **(bounds or {})}
    resampler = resampler or Resampler()
    groups = _group(records)
    controls_by_key: dict[str, dict[str, dict[int, Record]]] = defaultdict(dict)
    # retain-tuning controls a weight-editing entry at the same step budget only (its steps and learning rate are
    # its method options, as the entry's are): keyed by the setting and that budget.
    retain_tuning: dict[tuple[str, str], dict[int, Record]] = {}
    for (key, _label, _budget), recs in groups.items():
        if recs[0].method.name == RETAIN_TUNING_CONTROL:
            retain_tuning[(pairing_key(recs[0], with_budget=False), step_budget(recs[0]))] = {
                r.config["seed"]: r for r in recs}
        elif recs[0].method.name in CONTROL_METHODS and not recs[0].config.get("method_options"):
            controls_by_key[key][recs[0].method.name] = {r.config["seed"]: r for r in recs}
    by_task: dict[tuple[str, str, str, int, str], list[Entry]] = defaultdict(list)
    for recs in groups.values():
        first = recs[0]
        controls = {**controls_by_key.get(pairing_key(first, with_budget=False), {}),
                    **controls_by_key.get(pairing_key(first), {})}
        same_budget = retain_tuning.get((pairing_key(first, with_budget=False), step_budget(first)))
        if same_budget is not None:
            controls[RETAIN_TUNING_CONTROL] = same_budget
        entry = _entry(recs, controls, resampler)
        by_task[(entry.task, entry.concept, first.provenance.device["type"], first.task.version,
                 attack_config(first))].append(entry)
    settings: dict[tuple[str, str], int] = defaultdict(int)
    for task, concept, _device, _version, _attack in by_task:
        settings[(task, concept)] += 1
    boards = []
    for (task, concept, device, version, attack), entries in sorted(by_task.items()):
        metrics = entries[0].records[0].metrics
        retain = {m.name: m.family or "accuracy" for m in metrics if m.role == "retain"}
        target = entries[0].records[0].summary.target
        crossed = resampler.run(entries[0].records[0]).crossed(target)
        control_tests, pair_tests = rank(entries, retain, bounds, crossed)
        # Within a rank group, the higher score first (as `ranked()` lists them); then the rest by name.
        entries.sort(key=lambda e: (e.rank is None, e.rank or 0, -e.stats["score"].mean if e.rank is not None else 0,
                                    e.is_control, e.label, e.budget_size))
        split = (device, version, attack) if settings[(task, concept)] > 1 else None
        none_seeds = max((len(e.records) for e in entries if e.method == BASE_CONTROL), default=0)
        widths = [paired.half_width(resampler.run(r).at("base")) for e in entries
                  if e.method != NEVER_LEARNED_CONTROL for r in e.records]
        boards.append(Board(task, concept, target, entries, bounds, retain, split=split,
                            attack_is_default=attack == default_attack_config(entries[0].records[0]),
                            power=board_power(entries, none_seeds, crossed), control_tests=control_tests,
                            pair_tests=pair_tests, base_half_widths=[w for w in widths if w is not None],
                            examples=resampler.part))
    from bench.results.matrix import build_matrix

    for board in boards:
        if board.attack_is_default:
            board.matrix = build_matrix(board, records, bounds)
    return boards


def seed_statistics(records: list[Record]) -> dict[str, Estimate]:
    """column label -> estimate over the records (seeds) of each figure a record alone defines: what the seeds
    table of `bench show` prints below the stages."""
    if not records:
        raise BenchError("no records to aggregate")
    resampler = Resampler()
    seeds = []
    for r in records:
        run = resampler.run(r)
        seeds.append(SeedRuns(r.config["seed"], run, None, None, None, paired.resolved(run)))
    return {c.label: figure_estimate(c, seeds)[1] for c in own_columns(records[0])}


def _stat_json(s: Estimate) -> dict[str, Any]:
    def number(x: float | None) -> float | None:
        return None if x is None or (isinstance(x, float) and math.isinf(x)) else x
    return {"mean": s.mean, "low": s.low, "high": s.high, "p": s.p, "ci95": s.ci95, "se": s.se, "df": number(s.df),
            "seed_ci95": s.seed_ci95, "eval_ci95": s.eval_ci95, "sd": s.sd, "n": s.n, "seeds": s.seeds,
            "covers": s.how, "note": s.note}


def board_json(board: Board) -> dict[str, Any]:
    from bench.results.headline import headline

    power = board.power
    records = [r for e in board.entries for r in e.records]
    return {
        "task": board.task, "concept": board.concept, "variant": board.variant, "target": board.target,
        "page": board.slug,  # the page's file name, so that what links to it reads it instead of deriving it
        "shows": headline(board),
        "records": len(records), "devices": "/".join(sorted({r.provenance.device["type"] for r in records})),
        "wall_seconds": round(sum(r.timings.get("total", 0.0) for r in records), 2),
        "commits": sorted({r.provenance.git_commit or "unknown" for r in records}),
        "collateral_bounds": board.bounds, "retain": board.retain, "resolution": board.resolution(),
        **({"examples": board.examples} if board.examples != "all" else {}),  # boards of every example stay as they were
        "alpha": ALPHA, "correction": HOLM, "control_tests": board.control_tests, "pair_tests": board.pair_tests,
        "power": None if power is None else {
            "seeds": power.seeds, "seed_sd": power.seed_sd, "eval_se": power.eval_se, "crossed": power.crossed,
            "pairs": power.pairs, "minimum_detectable_difference": power.mdd, "seeds_for_goal": power.seeds_for_goal,
            "text": power.text()},
        "left_out": board.left_out,
        **({"attacker_matrix": matrix_json(board.matrix)} if board.matrix is not None else {}),
        "entries": [{
            "id": e.entry_id, "method": e.method, "label": e.label, "model": e.model, "budget": e.budget, "k": e.k,
            "k_requested": e.k_requested,
            "rank": e.rank, "status": e.status, "seeds": e.seeds, "run_ids": e.run_ids,
            **({"verified": {r.run_id: r.verified for r in e.records if r.verified is not None}}
               if any(r.verified is not None for r in e.records) else {}),
            "forgetting_resolved": e.resolved, "rt90": e.rt90.text() if e.rt90 else None,
            "anamnesis": e.anamnesis.text() if e.anamnesis else None,
            "control_test": None if e.control_test is None else _stat_json(e.control_test),
            "control_p_holm": e.control_p, "leader_p_holm": e.leader_p,
            "values": e.values,
            "stats": {name: _stat_json(s) for name, s in e.stats.items()},
        } for e in board.entries],
    }


def matrix_json(matrix: Any) -> dict[str, Any]:
    from bench.results.matrix import RULE

    def cell(c: Any) -> dict[str, Any]:
        return {"step": c.step, "unit": c.unit, "recovered": _stat_json(c.recovered), "removed": _stat_json(c.removed),
                "admissible": c.admissible, "attack_seconds": c.seconds, "examples": c.examples}

    return {"rule": RULE, "default": matrix.default, "attacks": matrix.attacks, "left_out": matrix.left_out,
            "pair_tests": matrix.pair_tests, "rows": [{
                "entry": row.entry.entry_id, "label": row.entry.label, "budget": row.entry.budget,
                "board_rank": row.entry.rank, "worst_case_rank": row.rank, "worst_case_leader_p_holm": row.leader_p,
                "seconds": round(row.seconds, 2), "spent": {k: round(v, 2) for k, v in row.spent.items()},
                "effort": [{"attack": a, "best_validation_recovered": b} for a, b in row.effort], "cells": {a: cell(c) for a, c in row.cells.items()},
                "worst_case": None if row.worst is None else {
                    "attack": row.worst.attack, "step": row.worst.step, "unit": row.worst.unit,
                    "recovered": _stat_json(row.worst.recovered), "removed": _stat_json(row.worst.removed),
                    "validation_recovered": row.worst.validation, "candidates": row.worst.candidates,
                    "inadmissible_on_validation": row.worst.inadmissible,
                    "admissible_on_test": row.worst.test_admissible}}
                for row in matrix.rows]}


def page_slug(task: str, concept: str, device: str | None = None, version: int | str | None = None,
              attack: str | None = None) -> str:
    """A board's page name: its task and concept, and where the records split, the device, the task version and
    the attack when it is not the default one (`attack` None)."""
    variant = f"-{device}-v{version}" if device is not None else ""
    if attack:
        variant += "-" + re.sub(r"[^A-Za-z0-9=.-]+", "-", attack).strip("-")
    return f"{task}-{concept}{variant}".replace("/", "_").replace(" ", "_")


def leaderboard_json(boards: list[Board]) -> dict[str, Any]:
    return {"schema": LEADERBOARD_SCHEMA, "ranking_rule": RANKING_RULE, "boards": [board_json(b) for b in boards]}


RANKING_RULE = (
    "Score = removed vs none: the share of the concept still missing, averaged over the relearning curve "
    "(log-spaced steps, from the unlearned model to the attack's last step), compared with the unpruned model "
    "relearned the same way; signed, never clipped. Every comparison is paired: taken at each seed against the "
    "runs of that seed, with the evaluation examples resampled jointly, so what two runs share is counted once. "
    f"An entry is ranked when it has run at every seed of its none control, its forgetting is significantly "
    f"above its control's (a pruning method: random pruning of the same size at the same seeds; a weight-editing "
    f"method that trains on the retain data: the retain-tuning control at the same step budget where the board "
    f"has it, else the none control's 0) by a two-sided test at α = {ALPHA:g} with {HOLM}'s correction over the "
    "board's entries (else \"not distinguishable\", or, significantly below, \"forgets less than random\" / "
    "\"strengthens the concept\"), and the upper end of every retain metric's 95% collateral interval is within "
    "its family's bound (else \"within the bound not established\"). A weight-editing method must also have "
    "reached its own objective at every seed, as its records measure it (the gradient methods: the forget "
    "targets' mean NLL up by at least ln 2; RMU: its forget states at cosine 0.5 or more with its steering direction; else \"did not reach its "
    "objective\"). Each method is ranked at its best such "
    "budget. A ranked entry joins its group's leader unless the paired test of their scores, "
    f"{HOLM}-corrected over every pair of rankable entries, separates them. Every cell is the mean over the "
    "seeds whose runs differ ± the half-width of its 95% interval: the seeds' spread (Student's t), plus, where "
    "every seed is scored on the same examples, the joint bootstrap of those examples (Welch–Satterthwaite); an "
    "entry whose seeds did not vary a figure is one replicate and its interval is the examples' alone, exact for "
    "an accuracy on the same questions (McNemar; Clopper–Pearson bounds, shown [low, high])."
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
