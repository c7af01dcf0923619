"""Search a training attack's learning rate for the one that brings back the most of an entry's concept, within
a declared number of trials (Optuna's TPE sampler, seeded by the run's seed, so a search is repeatable).

Each trial is two ordinary protocol runs at the sampled rate, the entry and the `none` control (the unlearned
model comes from the store: the entry unlearns once for every trial), so every trial's records join the attacker
matrix like a sweep's. A trial's value is what the matrix's worst case would take from it: the most recovered at
any of its checkpoints that stay within the attacker's bound, on the validation third of the evaluation examples
(bench.results.matrix); the test two thirds are never read here, so the search is a choice the boards can report
honestly. The attacker-effort curve is the best value found so far against the trials run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.api.metrics import COLLATERAL_BOUNDS
from bench.api.record import Record
from bench.core.errors import BenchError
from bench.harness.config import RunConfig


@dataclass(frozen=True)
class Trial:
    number: int
    lr: float
    recovered: float  # the best admissible checkpoint's recovery on the validation examples (0: none recovered)
    step: int | None  # that checkpoint (None: no checkpoint recovered anything within the bound)
    inadmissible: list[int]  # checkpoints beyond the attacker's bound on the validation examples
    run_id: str
    none_run_id: str
    seconds: float  # the two runs' wall time as recorded


@dataclass
class Search:
    config: dict[str, Any]  # the entry's configuration (its attack's rate is what the trials vary)
    low: float
    high: float
    trials: list[Trial] = field(default_factory=list)

    def effort(self) -> list[float]:
        """The attacker-effort curve: the most recovered so far after each trial."""
        best, curve = 0.0, []
        for t in self.trials:
            best = max(best, t.recovered)
            curve.append(best)
        return curve

    def best(self) -> Trial | None:
        found = [t for t in self.trials if t.step is not None]
        return max(found, key=lambda t: (t.recovered, -t.number)) if found else None


def none_config(cfg: RunConfig) -> RunConfig:
    """The none control of `cfg`'s entry under the same attack (it ignores the budget; one is given so it runs)."""
    budget = {"fraction": cfg.fraction, "k": cfg.k} if cfg.fraction is not None or cfg.k is not None else {
        "fraction": RunConfig.fraction, "k": None}
    return dataclasses.replace(cfg, method="none", method_options={}, **budget)


def trial_value(record: Record, none: Record, bounds: dict[str, float]) -> tuple[float, int | None, list[int]]:
    """(most recovered within the bound, at which checkpoint, the checkpoints beyond it), on validation examples."""
    import numpy as np

    from bench.results.matrix import recovered_at, within_bounds
    from bench.results.paired import Resampler

    validation = Resampler(part="validation")
    run, control = validation.run(record), validation.run(none)
    steps = sorted(({s for s, _ in run.curve()} & {s for s, _ in control.curve()}) - {0})
    best, at, beyond = 0.0, None, []
    for step in steps:
        if not within_bounds(run, step, bounds):
            beyond.append(step)
            continue
        value = float(recovered_at(run, control, step)[0])
        if np.isfinite(value) and value > best:
            best, at = value, step
    return best, at, beyond


def search_attack(cfg: RunConfig, trials: int, low: float, high: float, *,
                  run: Callable[[RunConfig], Record] | None = None, bounds: dict[str, float] | None = None,
                  on_trial: Callable[[Trial], None] | None = None) -> Search:
    """Run `trials` trials of `cfg`'s attack at rates sampled log-uniformly in [low, high]."""
    import optuna

    from bench.core.plugins import ATTACKS

    if not ATTACKS.get(cfg.attack).trains:
        raise BenchError(f"attack {cfg.attack!r} does not train: it has no learning rate to search")
    if trials < 1:
        raise BenchError(f"--trials must be at least 1, got {trials}")
    if not 0 < low < high or not math.isfinite(high):
        raise BenchError(f"the learning-rate range must be 0 < low < high, got {low:g}:{high:g}")
    if run is None:
        from bench.harness.protocol import run
    bounds = {**COLLATERAL_BOUNDS, **(bounds or {})}
    search = Search(cfg.to_dict(), low, high)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=cfg.seed))

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("relearn_lr", low, high, log=True)
        attacked = run(dataclasses.replace(cfg, relearn_lr=lr))
        control = run(dataclasses.replace(none_config(cfg), relearn_lr=lr))
        value, step, beyond = trial_value(attacked, control, bounds)
        done = Trial(trial.number, lr, value, step, beyond, attacked.run_id, control.run_id,
                     attacked.timings.get("total", 0.0) + control.timings.get("total", 0.0))
        search.trials.append(done)
        if on_trial is not None:
            on_trial(done)
        return value

    study.optimize(objective, n_trials=trials)
    return search


def search_json(search: Search) -> dict[str, Any]:
    best = search.best()
    return {"config": search.config, "lr_range": [search.low, search.high],
            "trials": [dataclasses.asdict(t) for t in search.trials], "effort": search.effort(),
            "best": None if best is None else dataclasses.asdict(best),
            "chosen_on": "validation third of the evaluation examples (bench.api.split); the test part was not read"}
