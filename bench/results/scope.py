"""What a leaderboard leaves out of its pinned grid, and why: the runs of a sweep file that no record matches,
for each board's page to list next to the reason a scope file gives.

A committed leaderboard may be a part of its grid (CPU time forces choices), but a reader must see which part
and why. The scope file names the grid and gives one reason per task:

    sweep = "sweep.toml"                 # the pinned grid (relative to this file), or a list of sweep files
                                         # (a sweep file's method options hold for every task it names: a grid
                                         # whose defenders are tuned per task is one file per task)
    seeds = [0, 1, 2, 3, 4, 5]           # optional: the seeds the grid asks for, where its sweep file ran fewer
    [why]
    cbt = "the 0.1% and 10% budgets ... were left out because ..."

`bench leaderboard build --scope FILE` refuses to write a page that leaves runs out without a reason.
Runs are matched on what places them in the grid (task, its options, method, its options, budget, seed), not
on run ids: no model is loaded to list what is missing. The task's options are part of the place: a run on a
smaller evaluation set (a CPU-sized board) is not a run of a grid that asks for the whole one. Only records of a task's newest version count: a board kept from an
older version shows beside the current one, but its runs are not the current grid's.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.api.controls import BUDGET_FREE_CONTROLS
from bench.api.method import StepBudget
from bench.api.record import Record
from bench.core.errors import BenchError
from bench.harness.config import RunConfig, read_toml
from bench.harness.sweep import plan, read_sweep_file

# A weight-editing method's budget among its options: the fields of StepBudget, as its label leaves them out.
BUDGET_OPTIONS = frozenset(f.name for f in dataclasses.fields(StepBudget))


@dataclass(frozen=True)
class Scope:
    sweeps: tuple[Path, ...]
    why: dict[str, str] = field(default_factory=dict)  # task -> why its board leaves runs of the grid out
    # The seeds the grid asks for (the power analysis's), replacing the sweep file's where it ran fewer: an evidence
    # sweep pins the runs it made, and its page still lists the seeds it lacks.
    seeds: tuple[int, ...] | None = None


def read_scope(path: Path) -> Scope:
    raw = read_toml(path, "scope file")
    unknown = sorted(set(raw) - {"sweep", "why", "seeds"})
    sweep = raw.get("sweep")
    files = [sweep] if isinstance(sweep, str) else sweep
    if unknown or not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise BenchError(f"{path}: expected `sweep = \"FILE\"` (or a list of files), an optional `seeds = [...]` "
                         "and a [why] table of task = \"reason\""
                         + (f"; unknown key(s) {', '.join(map(repr, unknown))}" if unknown else ""))
    why = raw.get("why", {})
    if not isinstance(why, dict) or not all(isinstance(v, str) and v.strip() for v in why.values()):
        raise BenchError(f"{path}: [why] must map each task to a non-empty reason")
    seeds = raw.get("seeds")
    if seeds is not None and (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
                              or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise BenchError(f"{path}: seeds must be a list of distinct non-negative integers, got {seeds!r}")
    return Scope(tuple(path.parent / f for f in files), dict(why), None if seeds is None else tuple(seeds))


def _place(task: str, task_options: dict, method: str, options: dict, fraction: float | None, k: int | None,
           seed: int) -> tuple:
    return (task, json.dumps(task_options or {}, sort_keys=True), method, json.dumps(options or {}, sort_keys=True),
            fraction, k, seed)


def _budget_text(cfg: RunConfig) -> str:
    if cfg.method in BUDGET_FREE_CONTROLS:
        return "any budget (one run per seed)"
    if cfg.fraction is not None:
        return f"{cfg.fraction:g} of units"
    if cfg.k is not None:
        return f"k = {cfg.k}"
    steps = {key: value for key, value in cfg.method_options.items() if key in BUDGET_OPTIONS}
    return ", ".join(f"{key}={value}" for key, value in sorted(steps.items())) or "its default budget"


def missing_runs(sweeps: Path | tuple[Path, ...], records: list[Record], seeds: tuple[int, ...] | None = None
                 ) -> list[RunConfig]:
    """The sweep files' runs (at `seeds` where given, for every task) that no record of the task's newest version
    holds, in the sweep's order (a run of an older task version has another id and is not a run of the grid the
    current code pins)."""
    newest: dict[str, int] = {}
    for r in records:
        newest[r.task.name] = max(newest.get(r.task.name, r.task.version), r.task.version)
    have = {_place(r.task.name, r.config.get("task_options") or {}, r.method.name,
                   r.config.get("method_options") or {}, r.config.get("fraction"), r.config.get("k"), r.config["seed"])
            for r in records if r.task.version == newest[r.task.name]}
    missing: dict[tuple, RunConfig] = {}  # one per place: an entry's attack configurations share it
    for sweep in (sweeps,) if isinstance(sweeps, Path) else sweeps:
        spec = read_sweep_file(sweep)
        if seeds is not None:
            spec = dataclasses.replace(spec, seeds=seeds, task_seeds={})
        for cfg in plan(spec):
            place = _place(cfg.task, cfg.task_options, cfg.method, cfg.method_options, cfg.fraction, cfg.k, cfg.seed)
            if place not in have:
                missing.setdefault(place, cfg)
    return list(missing.values())


def left_out(missing: list[RunConfig]) -> dict[str, list[str]]:
    """Per task, one line per method variant: the budgets it lacks and the seeds (budgets with the same missing
    seeds share a line)."""
    seeds: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for cfg in missing:
        variant = ", ".join(f"{k}={v}" for k, v in sorted(cfg.method_options.items()) if k not in BUDGET_OPTIONS)
        name = f"{cfg.method} ({variant})" if variant else cfg.method
        seeds[(cfg.task, name, _budget_text(cfg))].append(cfg.seed)
    lines: dict[str, dict[tuple[str, tuple[int, ...]], list[str]]] = defaultdict(dict)
    for (task, name, budget), s in seeds.items():
        lines[task].setdefault((name, tuple(sorted(s))), []).append(budget)
    return {task: [f"{name} at {', '.join(budgets)} (seed{'s' * (len(s) > 1)} {', '.join(map(str, s))})"
                   for (name, s), budgets in by_name.items()] for task, by_name in lines.items()}


def scope_notes(scope: Scope, records: list[Record], tasks: list[str]) -> dict[str, str]:
    """Per task shown, the note its page prints: what of the grid it leaves out and why. A task that leaves runs
    out without a reason in the scope file is an error: the page would not say why."""
    missing = left_out(missing_runs(scope.sweeps, records, scope.seeds))
    grid = " and ".join(s.name for s in scope.sweeps)
    notes = {}
    for task in tasks:
        if task not in missing:
            continue
        if task not in scope.why:
            raise BenchError(f"the {task} board leaves {len(missing[task])} of {grid}'s method variants "
                             f"(partly) unrun ({missing[task][0]}, ...): say why in the scope file's [why] table "
                             f"({task} = \"...\")")
        notes[task] = (f"Left out of the pinned grid ({grid}): " + "; ".join(missing[task]) +
                       f". Why: {scope.why[task].strip()}")
    return notes
