"""Resolving a run before any expensive work: the task and method its config names (options checked), its
device, its budget against the model's units, and its id. A sweep's plan calls `identify_run` (no weights
loaded when the model's facts are remembered); the run itself calls `resolve_run`, which loads the model and
checks the planned id against the weights it loaded."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.api.attack import Attack, refusal
from bench.api.task import Task, TaskSettings
from bench.core.errors import BenchError
from bench.core.options import parse_options
from bench.core.plugins import ATTACKS, METHODS, TASKS
from bench.harness.config import RunConfig
from bench.harness.model_facts import learn_facts, model_facts
from bench.models.loading import (
    LoadedModel,
    load_model,
    pick_device,
    quiet_transformers,
)
from bench.neurons.masks import budget_to_k
from bench.neurons.units import unit_space


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class ResolvedRun:
    """What a run resolved from its config before any expensive work."""

    cfg: RunConfig  # with model and concept filled in
    task: Task
    method: Any
    attack: Attack
    loaded: LoadedModel
    device: torch.device
    autocast_dtype: torch.dtype | None
    run_id: str


def autocast_dtype_for(device_type: str) -> torch.dtype | None:
    return torch.bfloat16 if device_type == "cuda" else None


def _plugins(cfg: RunConfig) -> tuple[Task, Any, Attack]:
    """The task, the method and the attack a config names, with their options checked."""
    task_cls, method_cls, attack_cls = TASKS.get(cfg.task), METHODS.get(cfg.method), ATTACKS.get(cfg.attack)
    check_budget_kind(cfg, method_cls)
    if method_cls.prepares_without_concept and not task_cls.has_never_learned_control():
        raise BenchError(f"method {cfg.method!r} needs the model prepared without the concept, and task {cfg.task!r} "
                         f"cannot have that: {task_cls.never_learned_impossible}")
    refused = refusal(cfg.task, task_cls, attack_cls)  # refused before anything loads, with the task's reason
    if refused:
        raise BenchError(f"attack {cfg.attack!r} {refused}")
    method = method_cls(parse_options(method_cls.Options, cfg.method_options, f"method {cfg.method!r}"))
    task_options = parse_options(task_cls.Options, cfg.task_options, f"task {cfg.task!r}")
    attack = attack_cls(parse_options(attack_cls.Options, cfg.attack_options, f"attack {cfg.attack!r}"))
    task = task_cls(TaskSettings(cfg.concept, cfg.data, cfg.seed, cfg.max_eval_examples, task_options))
    return task, method, attack


# A training attack's budget (bench.api.attack.StepBudget).
STEP_BUDGET_FIELDS = ("relearn_steps", "relearn_lr", "relearn_warmup_steps", "relearn_checkpoints")


def run_id_of(resolved: RunConfig, device_type: str, fingerprint: str, task: Task, method: Any,
              attack: Attack | None) -> str:
    """The hash of everything the result depends on: the resolved config, the model's and data's fingerprints,
    the device type and precision, and the versions of the method, the task and the attack (None: what the
    unlearned model depends on, before any attack)."""
    versions = {"method": [resolved.method, type(method).version], "task": [resolved.task, type(task).version]}
    if attack is not None:
        versions["attack"] = [resolved.attack, type(attack).version]
        if not type(attack).trains:  # the step budget cannot move its numbers: runs differing only there are one
            defaults = RunConfig()
            resolved = dataclasses.replace(resolved, **{f: getattr(defaults, f) for f in STEP_BUDGET_FIELDS})
    return dataclasses.replace(resolved, device=device_type).content_hash(
        {"model": fingerprint, "data": task.fingerprint(), "autocast": str(autocast_dtype_for(device_type)), **versions}
    )


def _device_type(cfg: RunConfig, device: str | None) -> str:
    return _device(cfg, device, check=False).type


def _device(cfg: RunConfig, device: str | None, check: bool = True) -> torch.device:
    """A device the config names wins; `auto` becomes the plan's device type (or this machine's best).
    Without `check` (planning, perhaps on a node without the GPUs the runs will get) nothing is probed."""
    if cfg.device != "auto":
        return pick_device(cfg.device) if check else torch.device(cfg.device)
    return pick_device(device or "auto") if check or device is None else torch.device(device)


def check_budget_kind(cfg: RunConfig, method_cls: type) -> None:
    """A pruning method needs a unit budget; a weight-editing one takes none (its budget is in its options).
    Checked before anything loads."""
    given = [f"--{name}" for name in ("fraction", "k") if getattr(cfg, name) is not None]
    if method_cls.unit_budget and not given:
        raise BenchError(f"method {cfg.method!r} prunes units: give a budget with --fraction or --k")
    if not method_cls.unit_budget and given:
        options = ", ".join(f.name for f in dataclasses.fields(method_cls.Options))
        raise BenchError(f"method {cfg.method!r} edits weights and takes no unit budget ({', '.join(given)}); its "
                         f"budget is in its options ({options}), e.g. --method-option steps=64")


def check_budget(cfg: RunConfig, method_cls: type, total_units: int) -> None:
    """A unit budget within the model's units (check_budget_kind has run)."""
    if method_cls.unit_budget:
        budget_to_k(total_units, fraction=cfg.fraction, k=cfg.k)


def identify_run(cfg: RunConfig, device: str | None = None) -> tuple[RunConfig, str]:
    """The resolved config and the run id, for `device` (a type: "cpu", "cuda"; default: the config's),
    without loading the weights when the plan's stamp remembers them (bench.harness.planning)."""
    quiet_transformers()
    task, method, attack = _plugins(cfg)
    model_ref = cfg.model or type(task).default_model
    facts = model_facts(model_ref, task.head())
    if cfg.unit_space not in facts.units:
        unit_space(nn.Module(), cfg.unit_space)  # the error that lists the unit spaces
    check_budget(cfg, type(method), facts.units[cfg.unit_space])
    resolved = dataclasses.replace(cfg, model=model_ref, concept=task.concept)
    return resolved, run_id_of(resolved, _device_type(cfg, device), facts.fingerprint, task, method, attack)


def resolve_run(cfg: RunConfig, device: str | None = None, planned_id: str | None = None) -> ResolvedRun:
    """Validate everything cheap first (names, options, concept, budget) so bad input fails in seconds.
    `device` is the type a plan fixed ("cpu", "cuda"); `planned_id` the id the plan gave this run, checked
    against the weights actually loaded here."""
    quiet_transformers()
    task, method, attack = _plugins(cfg)
    device_obj = _device(cfg, device)
    autocast_dtype = autocast_dtype_for(device_obj.type)
    seed_everything(cfg.seed)  # the fresh task head's initialisation depends on it
    model_ref = cfg.model or type(task).default_model
    loaded = load_model(model_ref, task.head())
    learn_facts(model_ref, task.head(), loaded.model, loaded.fingerprint)
    space = unit_space(loaded.model, cfg.unit_space)
    check_budget(cfg, type(method), space.total)
    resolved = dataclasses.replace(cfg, model=model_ref, concept=task.concept)
    run_id = run_id_of(resolved, device_obj.type, loaded.fingerprint, task, method, attack)
    if planned_id is not None and run_id != planned_id:
        raise BenchError(f"run {planned_id} was planned, but the weights and data here give run id {run_id}: "
                         f"this node does not see the same {model_ref!r} or task data as the node that planned it")
    return ResolvedRun(resolved, task, method, attack, loaded, device_obj, autocast_dtype, run_id)
