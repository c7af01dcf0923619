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
Runs are matched on what places them in the grid (task, its options, method, its options, budget, seed, and the
attack configuration: its name, options and, for one that trains, its learning rate), not on run ids: no model
is loaded to list what is missing. The task's options are part of the place: a run on a
smaller evaluation set (a CPU-sized board) is not a run of a grid that asks for the whole one. Only records of a task's newest version count: a board kept from an
older version shows beside the current one, but its runs are not the current grid's.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.api.attack import refusal
from bench.api.controls import BUDGET_FREE_CONTROLS
from bench.api.method import StepBudget
from bench.api.record import Record, with_options
from bench.core.errors import BenchError
from bench.core.plugins import ATTACKS, TASKS
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


def _attack(name: str, options: dict | None, lr: float | None, trains: bool) -> str:
    """An attack configuration as a page names it: "quantize (bits=4)", "finetune at lr 0.0002" (the learning rate
    only for an attack that trains: the others leave it out of their run ids too)."""
    return with_options(name, options) + (f" at lr {lr:g}" if trains and lr is not None else "")


def _budget_text(cfg: RunConfig) -> str:
    if cfg.method in BUDGET_FREE_CONTROLS:
        return "any budget (one run per seed)"
    if cfg.fraction is not None:
        return f"{cfg.fraction:g} of units"
    if cfg.k is not None:
        return f"k = {cfg.k}"
    steps = {key: value for key, value in cfg.method_options.items() if key in BUDGET_OPTIONS}
    return ", ".join(f"{key}={value}" for key, value in sorted(steps.items())) or "its default budget"


def grid_runs(sweeps: Path | tuple[Path, ...], seeds: tuple[int, ...] | None = None) -> list[RunConfig]:
    """The sweep files' runs, at `seeds` where given (for every task), in the sweeps' order; not those whose attack
    the task refuses (in-context relearning on a token classifier): they cannot run, and the page's attacker
    matrix says why."""
    runs = []
    for sweep in (sweeps,) if isinstance(sweeps, Path) else sweeps:
        spec = read_sweep_file(sweep)
        if seeds is not None:
            spec = dataclasses.replace(spec, seeds=seeds, task_seeds={})
        runs += [cfg for cfg in plan(spec) if refusal(cfg.task, TASKS.get(cfg.task), ATTACKS.get(cfg.attack)) is None]
    return runs


def attacks_that_train(grid: list[RunConfig]) -> dict[str, bool]:
    """Whether each of the grid's attacks trains (its learning rate is then part of its configuration)."""
    return {cfg.attack: ATTACKS.get(cfg.attack).trains for cfg in grid}


def missing_runs(grid: list[RunConfig], records: list[Record], trains: dict[str, bool]) -> list[RunConfig]:
    """The grid's runs that no record of the task's newest version holds, in the grid's order (a run of an older
    task version has another id and is not a run of the grid the current code pins)."""
    newest: dict[str, int] = {}
    for r in records:
        newest[r.task.name] = max(newest.get(r.task.name, r.task.version), r.task.version)
    have = {(_place(r.task.name, r.config.get("task_options") or {}, r.method.name,
                    r.config.get("method_options") or {}, r.config.get("fraction"), r.config.get("k"), r.config["seed"]),
             _attack(r.attack.name, r.config.get("attack_options"), r.config.get("relearn_lr"),
                     trains.get(r.attack.name, True)))
            for r in records if r.task.version == newest[r.task.name]}
    return [cfg for cfg in grid if (_place(cfg.task, cfg.task_options, cfg.method, cfg.method_options, cfg.fraction,
                                           cfg.k, cfg.seed), _grid_attack(cfg, trains)) not in have]


def _grid_attack(cfg: RunConfig, trains: dict[str, bool]) -> str:
    return _attack(cfg.attack, cfg.attack_options, cfg.relearn_lr, trains[cfg.attack])


def left_out(missing: list[RunConfig], grid: list[RunConfig], trains: dict[str, bool]) -> dict[str, list[str]]:
    """Per task, one line per method variant: the budgets it lacks and the seeds (budgets with the same missing
    seeds share a line). A seed the variant lacks under every attack configuration of the grid is listed once;
    one it lacks under some only is listed with them ("seed 0 under quantize (bits=4)")."""

    def variant(cfg: RunConfig) -> tuple[str, str, str]:
        options = ", ".join(f"{k}={v}" for k, v in sorted(cfg.method_options.items()) if k not in BUDGET_OPTIONS)
        return cfg.task, f"{cfg.method} ({options})" if options else cfg.method, _budget_text(cfg)

    attacks: dict[tuple[str, str, str], list[str]] = defaultdict(list)  # the grid's configurations, in its order
    for cfg in grid:
        if (attack := _grid_attack(cfg, trains)) not in attacks[variant(cfg)]:
            attacks[variant(cfg)].append(attack)
    lacking: dict[tuple[str, str, str], dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for cfg in missing:
        lacking[variant(cfg)][cfg.seed].add(_grid_attack(cfg, trains))
    lines: dict[str, dict[tuple[str, str], list[str]]] = defaultdict(dict)
    for key, by_seed in lacking.items():
        task, name, budget = key
        every = sorted(s for s, lacked in by_seed.items() if lacked >= set(attacks[key]))
        parts = [f"seed{'s' * (len(every) > 1)} {', '.join(map(str, every))}"] if every else []
        for attack in attacks[key]:
            some = sorted(s for s, lacked in by_seed.items() if s not in every and attack in lacked)
            if some:
                parts.append(f"seed{'s' * (len(some) > 1)} {', '.join(map(str, some))} under {attack}")
        lines[task].setdefault((name, "; ".join(parts)), []).append(budget)
    return {task: [f"{name} at {', '.join(budgets)} ({seeds})" for (name, seeds), budgets in by_name.items()]
            for task, by_name in lines.items()}


def scope_notes(scope: Scope, records: list[Record], tasks: list[str]) -> dict[str, str]:
    """Per task shown, the note its page prints: what of the grid it leaves out and why. A task that leaves runs
    out without a reason in the scope file is an error: the page would not say why."""
    grid = grid_runs(scope.sweeps, scope.seeds)
    trains = attacks_that_train(grid)
    missing = left_out(missing_runs(grid, records, trains), grid, trains)
    files = " and ".join(s.name for s in scope.sweeps)
    notes = {}
    for task in tasks:
        if task not in missing:
            continue
        if task not in scope.why:
            raise BenchError(f"the {task} board leaves {len(missing[task])} of {files}'s method variants "
                             f"(partly) unrun ({missing[task][0]}, ...): say why in the scope file's [why] table "
                             f"({task} = \"...\")")
        notes[task] = (f"Left out of the pinned grid ({files}): " + "; ".join(missing[task]) +
                       f". Why: {scope.why[task].strip()}")
    return notes
