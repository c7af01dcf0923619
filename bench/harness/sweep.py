"""Sweeps: a grid of runs (methods × tasks × budgets × seeds × attacks) with their controls, from a TOML file
or flags.

Every run is an ordinary protocol run, so a sweep is resumable for free: a run whose record exists (same
run id) is skipped, and an interrupted sweep picks up at the first run it had not finished. The plan
puts seeds outermost and controls first, so a sweep stopped half-way still leaves comparable entries.

The TOML file:

    methods = ["concept-neurons", "snip"]
    tasks = ["ner", "toxicity"]
    seeds = [0, 1, 2]
    fractions = [0.1]          # or ks = [92]; neither: each run's own budget (task table or profile)
    controls = true            # add `random` and `none` at the same budgets and seeds (default)

    [run]                      # RunConfig fields for every run
    relearn_steps = 64

    [tasks.toxicity]           # RunConfig fields for one task's runs
    k = 92
    task_options = { samples = 100 }
    seeds = [0, 1, 2, 3, 4]    # a task may run more seeds than the others (its board needs them to resolve)

    [methods.snip]             # RunConfig fields for one method's runs
    method_options = { backend = "hats" }

    [methods.concept-neurons]  # a list of option tables: one entry per table (variants of one method)
    method_options = [{ ranker = "raw" }, { ranker = "standardized" }]

    [methods.npo]              # a weight-editing method takes no unit budget: its variants are its budgets
    method_options = [{ steps = 16 }, { steps = 64 }]

    attacks = ["finetune", "quantize"]   # every entry meets every attack (default: the run's own, finetune)

    [attacks.quantize]         # RunConfig fields for one attack's runs; a list of option tables: its variants
    attack_options = [{ bits = 4 }, { bits = 8 }]

    [attacks.finetune]         # a training attack's learning rates: one run each, its steps are its checkpoints
    relearn_lr = [2e-5, 1e-4]

The attacks of one unlearned model are planned next to each other, and share it: it is unlearned once
(bench.harness.unlearned_store) and evaluated once (bench.harness.caches).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.api.controls import CONTROLS
from bench.api.record import Record
from bench.core.errors import BenchError
from bench.core.plugins import ATTACKS, METHODS, TASKS
from bench.harness.config import RunConfig, build_config, coerce_fields, read_toml

if TYPE_CHECKING:
    from bench.harness.executors import Executor
    from bench.harness.planning import PlannedRun



@dataclass(frozen=True)
class Budget:
    fraction: float | None = None
    k: int | None = None

    def values(self) -> dict[str, Any]:
        return {"fraction": self.fraction} if self.fraction is not None else {"k": self.k} if self.k is not None else {}

    def __str__(self) -> str:
        return f"fraction {self.fraction}" if self.fraction is not None else f"k {self.k}" if self.k is not None else "default"


@dataclass(frozen=True)
class SweepSpec:
    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    budgets: tuple[Budget, ...] = (Budget(),)
    controls: bool = True
    run: dict[str, Any] = field(default_factory=dict)  # RunConfig fields for every run
    task_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    method_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # method -> its option tables, when a method runs in several variants (each its own entry)
    method_variants: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    # task -> its own seeds (`seeds` in a [tasks.NAME] table), where a board needs more than the sweep's to
    # resolve what it measures (its page states the difference it can detect)
    task_seeds: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # The attacks every entry meets (empty: each run's own, from the tables or the default), their settings and
    # their variants (attack -> option tables).
    attacks: tuple[str, ...] = ()
    attack_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    attack_variants: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    # attack -> its learning rates (`relearn_lr = [...]` in its table): the attacker matrix's budgets. Steps need
    # no list: one run at a rate is evaluated at every checkpoint, which are the shorter attacks.
    attack_lrs: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def seeds_of(self, task: str) -> tuple[int, ...]:
        return self.task_seeds.get(task, self.seeds)

    def all_methods(self) -> tuple[str, ...]:
        """The methods in run order: controls first (when on), so a partial sweep still has them."""
        extra = [c for c in CONTROLS if self.controls and c not in self.methods]
        ordered = [c for c in CONTROLS if c in self.methods or c in extra]
        return tuple(ordered + [m for m in self.methods if m not in CONTROLS])

    def validate(self) -> None:
        if not self.methods or not self.tasks or not self.seeds:
            raise BenchError("a sweep needs at least one method, one task and one seed")
        for name in self.all_methods():
            METHODS.entry(name)  # unknown names fail here, listing the choices
        for name in self.tasks:
            TASKS.entry(name)
        # Settings may name tasks and methods the sweep does not run (a pinned file narrowed with --tasks or
        # --methods), but each must be a registered name: a typo in a table name would silently drop it.
        for name in self.task_settings:
            TASKS.entry(name)
        for name in self.method_settings:
            METHODS.entry(name)
        for name in (*self.attacks, *self.attack_settings):
            ATTACKS.entry(name)
        if len(set(self.attacks)) != len(self.attacks):
            raise BenchError(f"attacks must be distinct, got {list(self.attacks)}")
        for name, rates in self.attack_lrs.items():
            if not ATTACKS.get(name).trains:
                raise BenchError(f"[attacks.{name}] relearn_lr: {name} does not train, so a learning rate cannot "
                                 "change it (its runs would repeat one another)")
            if not rates or len(set(rates)) != len(rates) or min(rates) <= 0:
                raise BenchError(f"[attacks.{name}] relearn_lr must be distinct positive rates, got {list(rates)}")
        for seeds in (self.seeds, *self.task_seeds.values()):
            if not seeds or len(set(seeds)) != len(seeds):
                raise BenchError(f"seeds must be distinct and at least one, got {list(seeds)}")


def merge_settings(*layers: dict[str, Any]) -> dict[str, Any]:
    """Later layers win; option tables merge key by key instead of replacing each other."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in ("method_options", "task_options", "attack_options"):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
    return merged


def attack_layers(spec: SweepSpec) -> list[dict[str, Any]]:
    """The settings each attack configuration adds to a run (one empty layer when the sweep names no attack)."""
    return [{"attack": name, **spec.attack_settings.get(name, {}), **({"attack_options": variant} if variant else {}),
             **({"relearn_lr": lr} if lr is not None else {})}
            for name in spec.attacks for variant in spec.attack_variants.get(name, ({},))
            for lr in spec.attack_lrs.get(name, (None,))] or [{}]


def plan(spec: SweepSpec, *, has_gpu: bool = False) -> list[RunConfig]:
    """Every run of the sweep, seeds outermost, then tasks, budgets, methods (controls first) and attacks, so that
    the attacks on one unlearned model run one after another (it is unlearned once, bench.harness.unlearned_store)."""
    spec.validate()
    configs = []
    for seed in sorted({s for task in spec.tasks for s in spec.seeds_of(task)}, key=lambda s: (s not in spec.seeds, s)):
        for task in spec.tasks:
            if seed not in spec.seeds_of(task):
                continue
            for number, budget in enumerate(spec.budgets):
                for method in spec.all_methods():
                    method_cls = METHODS.get(method)
                    if method_cls.prepares_without_concept and not TASKS.get(task).has_never_learned_control():
                        continue  # the task cannot have the never-learned control; its page says why
                    if number > 0 and (method_cls.budget_free or not method_cls.unit_budget):
                        # It ignores the unit budget (its run at the first budget controls every budget), or its
                        # budget is its own steps (its variants are its budgets).
                        continue
                    for variant in spec.method_variants.get(method, ({},)):
                        for attack in attack_layers(spec):
                            values = merge_settings(spec.run, spec.task_settings.get(task, {}),
                                                    spec.method_settings.get(method, {}), {"method_options": variant},
                                                    attack)
                            unit_budget = budget.values() if method_cls.unit_budget else {}
                            grid = {"method": method, "task": task, "seed": seed, **unit_budget}
                            if "fraction" in grid or "k" in grid or not method_cls.unit_budget:
                                # a grid budget replaces any budget in the tables; a weight-editing method takes none
                                values.pop("fraction", None)
                                values.pop("k", None)
                            configs.append(build_config(values, grid, has_gpu=has_gpu))
    return configs


def _names(value: Any, key: str, where: str, kind: type | tuple[type, ...] = str) -> tuple:
    if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        what = "numbers" if isinstance(kind, tuple) else f"{kind.__name__}s"
        raise BenchError(f"{where}: {key} must be a list of {what}, got {value!r}")
    return tuple(value)


def _tables(raw: Any, key: str, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise BenchError(f"{where}: [{key}.NAME] tables of RunConfig fields expected")
    return {name: coerce_fields(values, f"{where}: [{key}.{name}]") for name, values in raw.items()}


def _variants(raw: dict[str, Any], where: str, kind: str = "method") -> dict[str, tuple[dict[str, Any], ...]]:
    """Pop every `{kind}_options` that is a list of tables out of the `[{kind}s.NAME]` tables: those are variants."""
    variants, key = {}, f"{kind}_options"
    for name, table in raw.items():
        options = table.get(key) if isinstance(table, dict) else None
        if isinstance(options, list):
            if not options or not all(isinstance(o, dict) for o in options):
                raise BenchError(f"{where}: [{kind}s.{name}] {key} must be a table or a list of tables")
            variants[name] = tuple(dict(o) for o in options)
            del table[key]
    return variants


def spec_from_dict(raw: dict[str, Any], where: str) -> SweepSpec:
    unknown = sorted(set(raw) - {"methods", "tasks", "seeds", "fractions", "ks", "controls", "run", "attacks"})
    tasks_raw = raw.get("tasks", [])
    methods_raw = raw.get("methods", [])
    attacks_raw = raw.get("attacks", [])
    if unknown:
        raise BenchError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid: methods, tasks, seeds, "
                         f"fractions, ks, controls, attacks, [run], [tasks.NAME], [methods.NAME], [attacks.NAME]")
    if isinstance(attacks_raw, dict):
        attacks_raw = {name: dict(table) if isinstance(table, dict) else table for name, table in attacks_raw.items()}
    attack_variants = _variants(attacks_raw, where, "attack") if isinstance(attacks_raw, dict) else {}
    attack_lrs = {}
    for name, table in (attacks_raw.items() if isinstance(attacks_raw, dict) else ()):
        if isinstance(table, dict) and isinstance(table.get("relearn_lr"), list):
            attack_lrs[name] = _names(table.pop("relearn_lr"), f"[attacks.{name}] relearn_lr", where, (int, float))
            attack_lrs[name] = tuple(float(lr) for lr in attack_lrs[name])
    # `tasks = [...]` lists the tasks; with `[tasks.NAME]` tables (TOML then makes `tasks` a table) the tables
    # list them, and a task without settings gets an empty table. The same goes for methods.
    if isinstance(methods_raw, dict):
        methods_raw = {name: dict(table) if isinstance(table, dict) else table for name, table in methods_raw.items()}
    variants = _variants(methods_raw, where) if isinstance(methods_raw, dict) else {}
    task_seeds = {}
    if isinstance(tasks_raw, dict):
        tasks_raw = {name: dict(table) if isinstance(table, dict) else table for name, table in tasks_raw.items()}
        for name, table in tasks_raw.items():
            if isinstance(table, dict) and "seeds" in table:
                task_seeds[name] = _names(table.pop("seeds"), f"[tasks.{name}] seeds", where, int)
    task_names = _names(list(tasks_raw) if isinstance(tasks_raw, dict) else tasks_raw, "tasks", where)
    method_names = _names(list(methods_raw) if isinstance(methods_raw, dict) else methods_raw, "methods", where)
    fractions = [Budget(fraction=float(f)) for f in _names(raw.get("fractions", []), "fractions", where, (int, float))]
    ks = [Budget(k=k) for k in _names(raw.get("ks", []), "ks", where, int)]
    controls = raw.get("controls", True)
    if not isinstance(controls, bool):
        raise BenchError(f"{where}: controls must be true or false")
    return SweepSpec(
        methods=method_names,
        tasks=task_names,
        seeds=_names(raw.get("seeds", [0, 1, 2]), "seeds", where, int),
        budgets=tuple(fractions + ks) or (Budget(),),
        controls=controls,
        run=coerce_fields(raw.get("run", {}), f"{where}: [run]"),
        task_settings=_tables(tasks_raw, "tasks", where) if isinstance(tasks_raw, dict) else {},
        method_settings=_tables(methods_raw, "methods", where) if isinstance(methods_raw, dict) else {},
        method_variants=variants,
        task_seeds=task_seeds,
        attacks=_names(list(attacks_raw) if isinstance(attacks_raw, dict) else attacks_raw, "attacks", where),
        attack_settings=_tables(attacks_raw, "attacks", where) if isinstance(attacks_raw, dict) else {},
        attack_variants=attack_variants,
        attack_lrs=attack_lrs,
    )


def read_sweep_file(path: str | Path) -> SweepSpec:
    return spec_from_dict(read_toml(path, "sweep file"), str(path))


@dataclass
class Outcome:
    cfg: RunConfig
    status: str  # "recorded" (skipped: it existed), "ran", "failed", "missing" (not recorded, not run)
    record: Record | None = None
    error: str | None = None
    seconds: float = 0.0


def run_sweep(configs: Iterable[RunConfig], *, executor: Executor | None = None, device: str | None = None,
              force: bool = False, run_missing: bool = True,
              on_outcome: Callable[[int, int, Outcome], None] | None = None) -> list[Outcome]:
    """Plan every config (bench.harness.planning), then run what is not recorded on `executor` (default: this
    process). A failure is reported and the sweep goes on (its record is simply missing). With
    `run_missing=False` nothing runs: the outcomes say which runs are recorded (to export a partial sweep)."""
    from bench.harness.executors.local import LocalExecutor
    from bench.harness.planning import plan_runs

    executor = executor or LocalExecutor()
    # `device`: where the caller planned the profiles for (asked once: an autoscaling cluster may change)
    planned = plan_runs(configs, device or ("cuda" if executor.has_gpu() else "cpu"))
    return run_planned(planned, executor=executor, force=force, run_missing=run_missing, on_outcome=on_outcome)


def run_planned(planned: Sequence[PlannedRun], *, executor: Executor | None = None, force: bool = False,
                run_missing: bool = True, on_outcome: Callable[[int, int, Outcome], None] | None = None
                ) -> list[Outcome]:
    """`run_sweep` for a plan the caller has made already (`bench sweep` plans once, for the estimates too)."""
    from bench.harness.executors import Result
    from bench.harness.executors.local import LocalExecutor
    from bench.harness.store import existing_record, index, run_folder

    executor = executor or LocalExecutor()
    outcomes: list[Outcome | None] = [None] * len(planned)
    reported = 0

    def settle(position: int, outcome: Outcome) -> None:
        nonlocal reported
        outcomes[position] = outcome
        if on_outcome is not None:
            on_outcome(reported, len(planned), outcome)
        reported += 1

    to_run = []
    for position, run in enumerate(planned):
        if run.error is not None:
            settle(position, Outcome(run.config, "failed", error=run.error))
        elif run.recorded and not force:
            settle(position, Outcome(run.config, "recorded", existing_record(run.run_id, run.config)))
        elif not run_missing:
            settle(position, Outcome(run.config, "missing"))
        else:
            to_run.append(position)
    for offset, result in executor.run([planned[p] for p in to_run], force=force):
        run = planned[to_run[offset]]
        record = existing_record(run.run_id, run.config) if result.status != "failed" else None
        if result.status != "failed" and record is None:
            result = Result(run.run_id, "failed", f"run {run.run_id} reported {result.status}, but its record is not "
                            f"visible here ({run_folder(run.run_id)}): do the workers share this $BENCH_HOME?",
                            result.seconds)
        elif record is not None:
            index(record, run_folder(run.run_id) / "record.json")  # workers elsewhere leave the index to us
        settle(to_run[offset], Outcome(run.config, result.status, record, result.error, result.seconds))
    return [o for o in outcomes if o is not None]


@dataclass(frozen=True)
class GridOverrides:
    """What a command line replaces in a sweep file: the grid's lists and settings for every run."""

    methods: Sequence[str] | None = None
    tasks: Sequence[str] | None = None
    seeds: Sequence[int] | None = None
    attacks: Sequence[str] | None = None
    fractions: Sequence[float] | None = None
    ks: Sequence[int] | None = None
    controls: bool = True
    run: Mapping[str, str] = field(default_factory=dict)  # RunConfig field -> value (strings, as typed)
    method_options: Mapping[str, str] = field(default_factory=dict)
    task_options: Mapping[str, str] = field(default_factory=dict)


def with_overrides(spec: SweepSpec, overrides: GridOverrides) -> SweepSpec:
    """The sweep of a file with a command line's lists and settings replacing its own."""
    changes: dict[str, Any] = {}
    for name in ("methods", "tasks", "seeds", "attacks"):
        if getattr(overrides, name) is not None:
            changes[name] = tuple(getattr(overrides, name))
    if overrides.seeds is not None:
        changes["task_seeds"] = {}  # the command line's seeds are every task's
    if overrides.fractions is not None or overrides.ks is not None:
        changes["budgets"] = tuple([Budget(fraction=f) for f in overrides.fractions or []]
                                   + [Budget(k=k) for k in overrides.ks or []])
    if not overrides.controls:
        changes["controls"] = False
    run_values = coerce_fields(dict(overrides.run), "--set")
    for key in ("method_options", "task_options"):
        if getattr(overrides, key):
            run_values[key] = dict(getattr(overrides, key))
    if run_values:
        changes["run"] = merge_settings(spec.run, run_values)
    return dataclasses.replace(spec, **changes)
