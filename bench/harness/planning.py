"""A sweep's plan: every run's resolved config, the device it runs on and its run id, computed once and
cheaply, without loading model weights (bench.harness.model_facts remembers what an id needs of a model).

The device is fixed in the plan, not chosen again on each node: on a cluster with GPUs every run is planned
for `cuda` (and the `paper` profile), whichever node computes the plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bench.core.errors import BenchError
from bench.harness.config import RunConfig
from bench.harness.resolution import identify_run
from bench.harness.store import existing_record


@dataclass(frozen=True)
class PlannedRun:
    config: RunConfig  # resolved (model and concept filled in); its device may still say "auto"
    device: str  # the device type the run is planned for: "cpu" or "cuda"
    run_id: str  # "" when it could not be planned
    recorded: bool
    error: str | None = None  # why it could not be planned (a missing model, a budget too large, ...)

    def to_json(self) -> dict[str, Any]:
        raw = {"run_id": self.run_id, "device": self.device, "recorded": self.recorded, "config": self.config.to_dict()}
        return raw if self.error is None else {**raw, "error": self.error}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PlannedRun:
        config = dict(raw["config"])
        config["relearn_checkpoints"] = tuple(config["relearn_checkpoints"])
        return cls(RunConfig(**config), raw["device"], raw["run_id"], raw["recorded"], raw.get("error"))


def plan_runs(configs: Iterable[RunConfig], device: str, *,
              recorded: Callable[[str, RunConfig], bool] | None = None) -> list[PlannedRun]:
    """Every config with its run id for `device` ("cpu" or "cuda"), without loading weights a stamp
    remembers; `recorded(run_id, config)` says whether the store already has the run."""
    is_recorded = recorded or (lambda run_id, cfg: existing_record(run_id, cfg) is not None)
    planned = []
    for cfg in configs:
        try:
            resolved, run_id = identify_run(cfg, device)
        except BenchError as exc:  # this run fails; the rest of the sweep goes on
            planned.append(PlannedRun(cfg, device, "", False, str(exc)))
            continue
        effective = device if cfg.device == "auto" else cfg.device.split(":")[0]  # a device the config names wins
        planned.append(PlannedRun(resolved, effective, run_id, is_recorded(run_id, resolved)))
    return planned


def write_plan(planned: Iterable[PlannedRun], handle) -> None:
    """JSON lines, one run each: its id, device, whether it is recorded, and its config."""
    for run in planned:
        handle.write(json.dumps(run.to_json(), sort_keys=True) + "\n")
