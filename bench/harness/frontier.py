"""One method's frontier on one task and seed: every configuration of its grid (bench.api.method.Grid) unlearned
and evaluated on all of the task's evaluation examples, kept per example, so that the choice (made on the
validation rows) and the report (on the test rows) come from the same evaluations (bench.results.frontier).

A weight-editing method unlearns once per option setting, for its grid's longest budget, and is evaluated at
log-spaced steps on the way (its schedule is constant, so the model at step s is what an s-step run ends with):
the steps axis costs evaluations, not unlearnings. A pruning method (any method with a unit budget) unlearns
once per fraction (its concept statistics are cached, so their pass runs once). Each setting's points are
written when it finishes, so a killed frontier resumes at the next setting.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.api.evaluation import Evaluation, Statistic, pack, unpack
from bench.api.method import Grid, WeightEditingMethod, steps_axis
from bench.core.errors import BenchError
from bench.core.files import write_json_atomic
from bench.core.paths import subdir
from bench.core.plugins import METHODS, TASKS
from bench.core.progress import console
from bench.harness.caches import base_evaluation, evaluate, prepare, save_npz
from bench.harness.config import RunConfig
from bench.harness.protocol import unlearn_context
from bench.harness.resolution import ResolvedRun, resolve_run, seed_everything
from bench.neurons.masks import apply_mask
from bench.neurons.units import unit_space

FRONTIER_FORMAT = 1


@dataclass
class FrontierPoint:
    """One configuration: the grid's setting, the step it was evaluated at (weight editing), what it spent, whether
    the method reached its own objective there, and its evaluation on every example."""

    setting: dict[str, Any]
    steps: int | None
    budget: dict[str, Any]
    objective: dict[str, Any] | None
    evaluation: Evaluation

    @property
    def name(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.setting.items())
        return shown + (f", steps={self.steps}" if self.steps is not None else "")


@dataclass
class FrontierRun:
    """Everything measured for one method, task and seed: the base model's evaluation and every point's."""

    cfg: RunConfig
    grid: Grid
    base: Evaluation
    points: list[FrontierPoint]
    metrics: list[dict[str, Any]]  # the task's MetricSpecs, as the record keeps them
    versions: dict[str, int]
    seconds: float  # this invocation's wall time (settings read back from an interrupted one cost nothing here)
    longest: int | None  # the weight-editing grid's longest unlearning, in steps
    per_octave: int = 1  # steps evaluated per doubling


def grid_of(method: str, axes: dict[str, tuple[Any, ...]] | None = None,
            fractions: tuple[float, ...] | None = None) -> Grid:
    """The method's declared grid, with axes replaced from the command line (a smaller grid on a CPU)."""
    cls = METHODS.get(method)
    declared = cls.grid
    if declared is None:
        raise BenchError(f"method {method!r} declares no grid: it is a control, run at the budget of the method it is "
                         "compared with")
    options = dict(declared.options)
    for name, values in (axes or {}).items():
        options[name] = tuple(values)
    return dataclasses.replace(declared, options=options,
                               fractions=tuple(fractions) if fractions is not None else declared.fractions)


def folder_of(cfg: RunConfig, grid: Grid, max_steps: int | None, per_octave: int = 1) -> Path:
    """Where a frontier's pieces are kept: a hash of everything they depend on (resumable, never mixed)."""
    method, task = METHODS.get(cfg.method), TASKS.get(cfg.task)
    key = json.dumps([cfg.to_dict(), dataclasses.asdict(grid), max_steps, method.version, task.version,
                      FRONTIER_FORMAT, *([per_octave] if per_octave != 1 else [])], sort_keys=True, default=str)
    return subdir("frontiers") / f"{cfg.method}-{cfg.task}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _setting_key(setting: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(setting, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _save(folder: Path, name: str, points: list[FrontierPoint]) -> None:
    save_npz(folder / f"{name}.npz", {k: v for i, p in enumerate(points) for k, v in pack(p.evaluation, f"p{i}").items()})
    write_json_atomic(folder / f"{name}.json", {
        "points": [{"setting": p.setting, "steps": p.steps, "budget": p.budget, "objective": p.objective}
                   for p in points],
        "statistics": {m: dataclasses.asdict(s) for m, s in points[0].evaluation.statistics.items()}})


def _load(folder: Path, name: str) -> list[FrontierPoint] | None:
    path, columns = folder / f"{name}.json", folder / f"{name}.npz"
    if not (path.exists() and columns.exists()):
        return None
    saved = json.loads(path.read_text())
    statistics = {m: Statistic.from_dict(s) for m, s in saved["statistics"].items()}
    with np.load(columns) as arrays:
        arrays = dict(arrays)
    return [FrontierPoint(p["setting"], p["steps"], p["budget"], p["objective"], unpack(arrays, f"p{i}", statistics))
            for i, p in enumerate(saved["points"])]


def _prepared(setup: ResolvedRun):
    """The prepared model in eval mode on the run's device, its preparation, unit space and concept data."""
    model, preparation = prepare(setup)
    model.to(setup.device).eval()
    return model, preparation, unit_space(model, setup.cfg.unit_space), setup.task.concept_data(setup.loaded.tokenizer)


def _weight_editing_points(setup: ResolvedRun, setting: dict[str, Any], steps: list[int]) -> list[FrontierPoint]:
    """One unlearning of the setting's longest budget, evaluated at each of `steps`."""
    model, preparation, space, concept = _prepared(setup)
    points: list[FrontierPoint] = []
    paused = [0.0]  # seconds spent evaluating inside the unlearning: not the method's cost
    started = time.perf_counter()

    def on_checkpoint(step: int, objective: dict[str, Any]) -> None:
        t = time.perf_counter()
        _, evaluation = evaluate(setup, model, "unlearned", step)
        spent = t - started - paused[0]
        o = setup.method.options
        points.append(FrontierPoint(setting, step, {"steps": step, "lr": o.lr, "seconds": round(spent, 2)},
                                    objective, evaluation))
        paused[0] += time.perf_counter() - t

    ctx = unlearn_context(setup, space, concept, preparation, checkpoints=tuple(steps), on_checkpoint=on_checkpoint)
    seed_everything(setup.cfg.seed)
    setup.method.unlearn(model, ctx)
    return points


def _pruning_points(setup: ResolvedRun, fraction: float) -> list[FrontierPoint]:
    model, preparation, space, concept = _prepared(setup)
    seed_everything(setup.cfg.seed)
    started = time.perf_counter()
    unlearned = setup.method.unlearn(model, unlearn_context(setup, space, concept, preparation))
    seconds = time.perf_counter() - started
    mask = unlearned.mask
    hooks_only = mask is not None and mask.k > 0 and not space.prunable_by_weights
    with apply_mask(model, space, mask, setup.cfg.mask_mode):
        _, evaluation = evaluate(setup, model, "unlearned", mask_outside_weights=hooks_only)
    budget = {"units": unlearned.k_requested, "pruned": mask.k, "fraction": fraction, "seconds": round(seconds, 2)}
    return [FrontierPoint({"fraction": fraction}, None, budget, None, evaluation)]


def longest_steps(setup: ResolvedRun, grid: Grid, max_steps: int | None) -> int:
    """The grid's longest unlearning: `grid.epochs` passes over the forget data, at most `max_steps`."""
    forget = len(setup.task.forget_data(setup.loaded.tokenizer))
    batch = setup.method.options.batch_size or setup.cfg.batch_size
    steps = max(1, math.ceil((grid.epochs or 1) * forget / batch))
    return min(steps, max_steps) if max_steps else steps


def run_frontier(cfg: RunConfig, grid: Grid, max_steps: int | None = None, per_octave: int = 1) -> FrontierRun:
    """Every configuration of `grid` for `cfg`'s method, task and seed (its own options are the starting point);
    a weight-editing method is evaluated at `per_octave` steps per doubling (bench.api.method.steps_axis)."""
    started = time.perf_counter()
    cls = METHODS.get(cfg.method)
    folder = folder_of(cfg, grid, max_steps, per_octave)
    folder.mkdir(parents=True, exist_ok=True)
    first = resolve_run(cfg if issubclass(cls, WeightEditingMethod) else
                        dataclasses.replace(cfg, fraction=grid.fractions[0] if grid.fractions else cfg.fraction, k=None))
    model, preparation = prepare(first)
    model.to(first.device).eval()
    _, base = base_evaluation(first, model, preparation)
    del model
    points: list[FrontierPoint] = []
    longest = None
    if issubclass(cls, WeightEditingMethod):
        longest = longest_steps(first, grid, max_steps)
        steps = steps_axis(longest, per_octave)
        todo: list[tuple[dict[str, Any], RunConfig]] = [
            (setting, dataclasses.replace(cfg, method_options={**cfg.method_options, **setting, "steps": longest}))
            for setting in grid.settings()]
    elif cls.unit_budget:  # a pruning method (the SNIP family too): its budget is a share of the units
        if not grid.fractions:
            raise BenchError(f"method {cfg.method!r}: its grid has no fractions to prune")
        todo = [({"fraction": f}, dataclasses.replace(cfg, fraction=f, k=None)) for f in grid.fractions]
    else:
        raise BenchError(f"method {cfg.method!r} is neither a pruning nor a weight-editing method: no frontier")
    for number, (setting, setting_cfg) in enumerate(todo, 1):
        name = _setting_key(setting)
        done = _load(folder, name)
        if done is None:
            console.print(f"[bold]frontier {cfg.method} on {cfg.task}[/]: setting {number}/{len(todo)} {setting}")
            setup = resolve_run(setting_cfg)
            done = (_weight_editing_points(setup, setting, steps) if longest is not None
                    else _pruning_points(setup, setting["fraction"]))
            _save(folder, name, done)
        points.extend(done)
    task = TASKS.get(cfg.task)
    metrics = [dataclasses.asdict(s) for s in first.task.metrics()]
    return FrontierRun(first.cfg, grid, base, points, metrics, {"method": cls.version, "task": task.version},
                       round(time.perf_counter() - started, 2), longest, per_octave)
