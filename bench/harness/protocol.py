"""The protocol of one run: load → prepare → evaluate (base) → unlearn → evaluate (unlearned) →
relearn with evaluations at checkpoints → summary → record. The CLI and Python users both call `run`."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from safetensors.torch import save_file
from torch import nn

from bench.analysis.snapshots import (
    HAT_K,
    Snapshot,
    save_snapshots,
    snapshot_from,
    take_snapshot,
)
from bench.api.evaluation import Evaluation, Statistic, pack, unpack
from bench.api.method import UnlearnContext, UnlearningResult
from bench.api.metrics import summarize
from bench.api.record import (
    SCHEMA_VERSION,
    Bootstrap,
    EvaluationInfo,
    MaskInfo,
    MethodInfo,
    MetricInfo,
    ModelInfo,
    Preparation,
    Provenance,
    Record,
    RecordSummary,
    StageScores,
    TaskInfo,
    UnlearningInfo,
    read_record,
    write_json_atomic,
    write_record,
    write_text_atomic,
)
from bench.api.task import EvalSettings, Task, TaskSettings
from bench.api.typed import from_dict
from bench.core.errors import BenchError
from bench.core.options import parse_options
from bench.core.paths import subdir
from bench.core.plugins import METHODS, TASKS
from bench.core.progress import console
from bench.harness.config import RunConfig
from bench.harness.planning import learn_facts, model_facts
from bench.harness.provenance import provenance
from bench.harness.resume import RelearnState
from bench.harness.store import index, run_folder
from bench.harness.uncertainty import rounded, run_uncertainty
from bench.models.loading import (
    LoadedModel,
    auto_model_class,
    head_kwargs,
    load_model,
    pick_device,
    quiet_transformers,
)
from bench.models.training import TrainSettings, train
from bench.neurons.masks import apply_mask, budget_to_k
from bench.neurons.units import unit_space

EXAMPLES_FILE = "examples.npz"  # each stage's per-example columns (stage{i}/sample/column), beside the record


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
    loaded: LoadedModel
    device: torch.device
    autocast_dtype: torch.dtype | None
    run_id: str


def autocast_dtype_for(device_type: str) -> torch.dtype | None:
    return torch.bfloat16 if device_type == "cuda" else None


def _plugins(cfg: RunConfig) -> tuple[Task, Any]:
    """The task and the method a config names, with their options checked."""
    task_cls, method_cls = TASKS.get(cfg.task), METHODS.get(cfg.method)
    check_budget_kind(cfg, method_cls)
    if method_cls.prepares_without_concept and not task_cls.has_never_learned_control():
        raise BenchError(f"method {cfg.method!r} needs the model prepared without the concept, and task {cfg.task!r} "
                         f"cannot have that: {task_cls.never_learned_impossible}")
    method = method_cls(parse_options(method_cls.Options, cfg.method_options, f"method {cfg.method!r}"))
    task_options = parse_options(task_cls.Options, cfg.task_options, f"task {cfg.task!r}")
    return task_cls(TaskSettings(cfg.concept, cfg.data, cfg.seed, cfg.max_eval_examples, task_options)), method


def _run_id(resolved: RunConfig, device_type: str, fingerprint: str, task: Task, method: Any) -> str:
    return dataclasses.replace(resolved, device=device_type).content_hash(
        {"model": fingerprint, "data": task.fingerprint(), "autocast": str(autocast_dtype_for(device_type)),
         "method": [resolved.method, type(method).version], "task": [resolved.task, type(task).version]}
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
    task, method = _plugins(cfg)
    model_ref = cfg.model or type(task).default_model
    facts = model_facts(model_ref, task.head())
    if cfg.unit_space not in facts.units:
        unit_space(nn.Module(), cfg.unit_space)  # the error that lists the unit spaces
    check_budget(cfg, type(method), facts.units[cfg.unit_space])
    resolved = dataclasses.replace(cfg, model=model_ref, concept=task.concept)
    return resolved, _run_id(resolved, _device_type(cfg, device), facts.fingerprint, task, method)


def resolve_run(cfg: RunConfig, device: str | None = None, planned_id: str | None = None) -> ResolvedRun:
    """Validate everything cheap first (names, options, concept, budget) so bad input fails in seconds.
    `device` is the type a plan fixed ("cpu", "cuda"); `planned_id` the id the plan gave this run, checked
    against the weights actually loaded here."""
    quiet_transformers()
    task, method = _plugins(cfg)
    device_obj = _device(cfg, device)
    autocast_dtype = autocast_dtype_for(device_obj.type)
    seed_everything(cfg.seed)  # the fresh task head's initialisation depends on it
    model_ref = cfg.model or type(task).default_model
    loaded = load_model(model_ref, task.head())
    learn_facts(model_ref, task.head(), loaded.model, loaded.fingerprint)
    space = unit_space(loaded.model, cfg.unit_space)
    check_budget(cfg, type(method), space.total)
    resolved = dataclasses.replace(cfg, model=model_ref, concept=task.concept)
    run_id = _run_id(resolved, device_obj.type, loaded.fingerprint, task, method)
    if planned_id is not None and run_id != planned_id:
        raise BenchError(f"run {planned_id} was planned, but the weights and data here give run id {run_id}: "
                         f"this node does not see the same {model_ref!r} or task data as the node that planned it")
    return ResolvedRun(resolved, task, method, loaded, device_obj, autocast_dtype, run_id)


def prepare(setup: ResolvedRun) -> tuple[nn.Module, dict[str, Any]]:
    """The task's fine-tuning, cached by content hash so repeated runs (other methods, budgets) skip it."""
    cfg, task, loaded = setup.cfg, setup.task, setup.loaded
    # The never-learned control is prepared on the same data with the concept taken out (None: not at all).
    without = type(setup.method).prepares_without_concept
    data = task.preparation_without_concept(loaded.tokenizer) if without else task.preparation_data(loaded.tokenizer)
    marker = {"without_concept": True} if without else {}
    if data is None or cfg.finetune_epochs == 0:
        return loaded.model, {"finetuned": False, **marker}
    settings = TrainSettings(lr=cfg.finetune_lr, weight_decay=cfg.weight_decay, batch_size=cfg.batch_size,
                             epochs=cfg.finetune_epochs, warmup_ratio=cfg.warmup_ratio, seed=cfg.seed)
    key_parts = {"model": loaded.fingerprint, "task": [cfg.task, type(task).version, task.fingerprint()],
                 "head": dataclasses.asdict(task.head()), "train": dataclasses.asdict(settings),
                 "device": setup.device.type, "autocast": str(setup.autocast_dtype), **marker}
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:16]
    folder = subdir("prepared") / key
    # One preparation per key even when runs start together: the others wait, then load what it saved.
    with FileLock(folder.parent / f"{key}.lock"):
        return _prepared(setup, data, settings, key, folder, marker)


def _prepared(setup: ResolvedRun, data, settings: TrainSettings, key: str, folder: Path, marker: dict[str, bool]
              ) -> tuple[nn.Module, dict[str, Any]]:
    task = setup.task
    auto = auto_model_class(task.head().kind)
    if (folder / "prepared.json").exists():
        info = json.loads((folder / "prepared.json").read_text())
        console.print(f"[dim]prepared model from cache {folder}[/]")
        return auto.from_pretrained(folder, local_files_only=True, **head_kwargs(task.head())), info
    model = setup.loaded.model.to(setup.device)
    before = None
    if task.evaluate_before_preparation:
        before = _evaluate(setup, model.eval(), "before preparation")[0].scores
    result = train(model, data, settings, autocast_dtype=setup.autocast_dtype, description="fine-tune (prepare)")
    info = {"finetuned": True, **marker, "cache_key": key, "examples": len(data), "steps": result.steps,
            "seconds": round(result.seconds, 2), "final_loss": result.final_loss, "settings": dataclasses.asdict(settings)}
    if before is not None:
        info["scores_before"] = before
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        staging = Path(tmp) / key
        model.save_pretrained(staging)
        write_json_atomic(staging / "prepared.json", info)
        if folder.exists():  # an interrupted attempt (no prepared.json): moved aside whole, removed with tmp
            folder.rename(Path(tmp) / "interrupted")
        staging.rename(folder)
    return model, info


def _evaluate(setup: ResolvedRun, model: nn.Module, stage: str, step: int = 0, epoch: float = 0.0,
              mask_outside_weights: bool = False) -> tuple[StageScores, Evaluation]:
    start = time.perf_counter()
    settings = EvalSettings(batch_size=setup.cfg.eval_batch_size, autocast_dtype=setup.autocast_dtype,
                            mask_outside_weights=mask_outside_weights)
    evaluation = setup.task.evaluate(model, setup.loaded.tokenizer, settings)
    result = StageScores(stage, step, round(epoch, 4), evaluation.scores(), round(time.perf_counter() - start, 3),
                         sizes=evaluation.metric_sizes())
    target = setup.task.metrics()[0].name
    where = f" step {step}" if stage == "relearn" else ""
    console.print(f"[dim]{stage}{where}:[/] {target} = {_show(result.scores[target])}")
    return result, evaluation


def _show(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def base_evaluation(setup: ResolvedRun, model: nn.Module, preparation: dict[str, Any]) -> tuple[StageScores, Evaluation]:
    """The base model's scores, shared by every run on the same prepared model and evaluation (all methods
    and budgets of a seed, and every seed where none reaches them: `base_depends_on_seed`): the evaluation is
    deterministic given these inputs, so it is computed once. Its per-example columns are cached with it, for
    the paired bootstrap."""
    cfg = setup.cfg
    key_parts = {"model": preparation.get("cache_key") or setup.loaded.fingerprint,
                 "task": [cfg.task, type(setup.task).version, setup.task.fingerprint(), cfg.concept],
                 "options": cfg.task_options, "max_eval_examples": cfg.max_eval_examples,
                 "seed": cfg.seed if base_depends_on_seed(setup, preparation) else None,
                 "eval_batch_size": cfg.eval_batch_size, "device": setup.device.type,
                 "autocast": str(setup.autocast_dtype), "format": 2}
    # Runs of one seed starting together evaluate the base model once: the others wait and read it.
    return cached_evaluation(setup, model, "base", key_parts)


def base_depends_on_seed(setup: ResolvedRun, preparation: dict[str, Any]) -> bool:
    """`Task.base_depends_on_seed` for this run: a pretrained causal LM scored by likelihood (CBT) is the same
    model with the same scores for every seed, so it is evaluated once, not per seed."""
    head = setup.loaded.report.head if setup.loaded.report is not None else None
    return type(setup.task).base_depends_on_seed(bool(preparation.get("finetuned")), head)


# The settings that change neither the unlearned model nor its evaluation (the attacker's, and whether
# activation snapshots are taken): runs that differ only in these share the unlearned model's scores.
RELEARNING_FIELDS = ("relearn_steps", "relearn_lr", "relearn_warmup_steps", "relearn_checkpoints", "analyze")


def unlearned_evaluation(setup: ResolvedRun, model: nn.Module, unlearned: UnlearningResult,
                         mask_outside_weights: bool) -> tuple[StageScores, Evaluation]:
    """The unlearned model's scores, shared by runs that differ only in the relearning settings. The key is
    everything else the run id hashes, and what the method produced: the mask's bits and, when it edited
    weights, their digest (a method whose output is not reproducible, such as an LLM answering differently
    or a GPU kernel's order of sums, then gets its own evaluation instead of another run's)."""
    defaults = RunConfig()
    before_relearning = dataclasses.replace(setup.cfg, **{f: getattr(defaults, f) for f in RELEARNING_FIELDS})
    key_parts = {"unlearned": _run_id(before_relearning, setup.device.type, setup.loaded.fingerprint, setup.task,
                                      setup.method),
                 "mask": unlearned.mask.content_hash() if unlearned.mask is not None else None,
                 "weights": weights_digest(model) if unlearned.edited else None, "format": 2}
    return cached_evaluation(setup, model, "unlearned", key_parts, mask_outside_weights)


def weights_digest(model: nn.Module) -> str:
    """A digest of every parameter's bytes (about a second for a 135M-parameter model on a CPU)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def cached_evaluation(setup: ResolvedRun, model: nn.Module, stage: str, key_parts: dict[str, Any],
                      mask_outside_weights: bool = False) -> tuple[StageScores, Evaluation]:
    """Evaluate `model` as `stage` once per content key (`key_parts`: everything the scores depend on), with
    the per-example columns the paired bootstrap needs; later runs read it. A lock makes runs that start
    together wait for the first one's evaluation instead of repeating it."""
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path, columns = subdir("evaluations") / f"{stage}-{key}.json", subdir("evaluations") / f"{stage}-{key}.npz"
    with FileLock(path.with_suffix(".lock")):
        if path.exists() and columns.exists():
            cached = json.loads(path.read_text())
            scores = StageScores(**cached["stage"])
            with np.load(columns) as arrays:
                evaluation = unpack(dict(arrays), stage, {m: Statistic.from_dict(s) for m, s in cached["statistics"].items()})
            console.print(f"[dim]{stage}: {_show(scores.scores.get(setup.task.metrics()[0].name))} "
                          f"(evaluated before: {path.name})[/]")
            return scores, evaluation
        scores, evaluation = _evaluate(setup, model, stage, mask_outside_weights=mask_outside_weights)
        _save_npz(columns, pack(evaluation, stage))
        write_json_atomic(path, {"stage": dataclasses.asdict(scores),
                                 "statistics": {m: dataclasses.asdict(s) for m, s in evaluation.statistics.items()}})
        return scores, evaluation


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Compressed, written to a temporary file and renamed (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".npz", delete=False) as handle:
        np.savez_compressed(handle, **arrays)
    os.replace(handle.name, path)


def unlearning_info(unlearned: UnlearningResult, cfg: RunConfig) -> UnlearningInfo:
    """The record's account of what the method did and what budget it had."""
    mask = unlearned.mask
    budget = dict(unlearned.budget)
    if mask is not None:
        budget = {"units": unlearned.k_requested, **({"fraction": cfg.fraction} if cfg.fraction is not None else {}),
                  **budget}
    info = None if mask is None else MaskInfo(
        hash=mask.content_hash(), space=mask.space, mode=cfg.mask_mode, k=mask.k, k_requested=unlearned.k_requested,
        k_pruned=mask.k, total=mask.total, per_layer=mask.per_layer(), file="mask.safetensors")
    return UnlearningInfo(kind=unlearned.kind, budget=budget, mask=info)


def seed_varies(setup: ResolvedRun, preparation: dict[str, Any]) -> list[str]:
    """What differs between two seeds of this configuration, so the spread over seeds says what it covers."""
    varies = ["relearning data order and dropout"]
    if preparation.get("finetuned"):
        varies.insert(0, "preparation (fine-tuning order, fresh head)")
    if type(setup.method).uses_seed:
        varies.append(type(setup.method).seed_effect)
    if type(setup.task).seeded_samples:
        varies.append("evaluation sampling")
    return varies


@dataclass
class _Resumable:
    """Relearning's checkpointer for one run: with the training state it saves the stages, evaluations and
    snapshots taken so far during relearning, and puts them back when the run resumes."""

    state: RelearnState
    stages: list[StageScores]
    evaluations: list[Evaluation]
    snapshots: list[Snapshot]
    resumed_from: int = 0

    def __post_init__(self) -> None:
        self.fixed = (len(self.stages), len(self.snapshots))  # what exists before relearning's first step

    def save(self, step: int, model: nn.Module, optimizer, schedule) -> None:
        n_stages, n_snapshots = self.fixed
        self.state.save(step, model, optimizer, schedule, {
            "stages": self.stages[n_stages:], "evaluations": self.evaluations[n_stages:],
            "snapshots": self.snapshots[n_snapshots:]})

    def restore(self, model: nn.Module, optimizer, schedule) -> int:
        try:
            saved = self.state.restore(model, optimizer, schedule)
        except BenchError:
            raise  # restored in part: the run cannot go on from a mixture
        except Exception as exc:  # unreadable before anything was restored (a truncated file): start over
            console.print(f"[yellow]could not resume from {self.state.path} ({type(exc).__name__}: {exc}); "
                          "relearning starts over[/]")
            return 0
        if saved is None:
            return 0
        self.stages.extend(saved.progress["stages"])
        self.evaluations.extend(saved.progress["evaluations"])
        self.snapshots.extend(saved.progress["snapshots"])
        self.resumed_from = saved.step
        console.print(f"[green]resuming relearning at step {saved.step}[/] (saved by an interrupted run)")
        return saved.step


def existing_record(run_id: str, cfg: RunConfig) -> Record | None:
    path = run_folder(run_id) / "record.json"
    if not path.exists():
        return None
    record = read_record(path)
    # The id is a hash of the config, but check anyway: a record is reused only for exactly this run.
    return record if record.run_id == run_id and record.config == cfg.to_dict() else None


def run(cfg: RunConfig, *, force: bool = False) -> Record:
    t0 = time.perf_counter()
    return run_resolved(resolve_run(cfg), force=force, setup_seconds=time.perf_counter() - t0)


def run_resolved(setup: ResolvedRun, *, force: bool = False, setup_seconds: float = 0.0) -> Record:
    """The protocol for a resolved run; an identical recorded run is returned as it is unless `force`."""
    return compute_once(setup, force=force, setup_seconds=setup_seconds)[0]


def compute_once(setup: ResolvedRun, *, force: bool = False, setup_seconds: float = 0.0) -> tuple[Record, bool]:
    """The run's record, and whether this call computed it. A run is computed by one process at a time: another
    one starting the same run (a second sweep with an overlapping plan) waits, then returns its record."""
    if not force and (done := existing_record(setup.run_id, setup.cfg)) is not None:
        console.print(f"[green]run {setup.run_id} already recorded[/] (use --force to run it again)")
        return done, False
    with FileLock(subdir("locks") / f"{setup.run_id}.lock"):
        if not force and (done := existing_record(setup.run_id, setup.cfg)) is not None:
            console.print(f"[green]run {setup.run_id} was recorded by another process meanwhile[/]")
            return done, False
        return _run_protocol(setup, setup_seconds), True


def _run_protocol(setup: ResolvedRun, setup_seconds: float) -> Record:
    t0 = time.perf_counter() - setup_seconds
    cfg, task = setup.cfg, setup.task
    timings: dict[str, float] = {"setup": setup_seconds}
    console.print(f"run [bold]{setup.run_id}[/]: method {cfg.method}, task {cfg.task} ({task.concept}), "
                  f"model {cfg.model}, profile {cfg.profile}, device {setup.device}")

    t = time.perf_counter()
    model, preparation = prepare(setup)
    model.to(setup.device).eval()
    timings["prepare"] = time.perf_counter() - t
    space = unit_space(model, cfg.unit_space)
    concept = task.concept_data(setup.loaded.tokenizer)
    snapshots: list[Snapshot] = []

    def snapshot(label: str, step: int = 0) -> None:
        if cfg.analyze:
            snapshots.append(take_snapshot(model, space, concept, cfg.eval_batch_size, label, step))

    base_stage, base_eval = base_evaluation(setup, model, preparation)
    stages, evaluations = [base_stage], [base_eval]
    seed_everything(cfg.seed)  # the method sees the same global RNG state whether the base scores were cached or not
    tokenizer = setup.loaded.tokenizer
    ctx = UnlearnContext(space=space, concept=concept, fraction=cfg.fraction, k=cfg.k, seed=cfg.seed,
                         batch_size=cfg.eval_batch_size, device=setup.device, tokenizer=tokenizer,
                         autocast_dtype=setup.autocast_dtype, train_batch_size=cfg.batch_size,
                         forget_source=lambda: task.forget_data(tokenizer),
                         retain_source=lambda: task.retain_data(tokenizer),
                         statistics_key=json.dumps([preparation.get("cache_key") or setup.loaded.fingerprint,
                                                    setup.device.type, str(setup.autocast_dtype)]))
    if cfg.analyze:  # the base snapshot and a method's own pass over the concept data share one stream
        snapshots.append(snapshot_from(ctx.concept_statistics(model, top_k=HAT_K), concept, "base"))

    t = time.perf_counter()
    unlearned = setup.method.unlearn(model, ctx)
    timings["unlearn"] = time.perf_counter() - t
    mask = unlearned.mask
    if mask is not None and mask.k < unlearned.k_requested:
        console.print(f"[yellow]{cfg.method} ranked only {mask.k} units: it prunes {mask.k} of the "
                      f"{unlearned.k_requested} the budget allows (the record and the leaderboard say so)[/]")
    model.eval()  # a plug-in method that trains by itself may leave dropout on for the evaluation

    relearn_data = task.relearn_data(setup.loaded.tokenizer)
    # The attacker's budget is steps, not epochs (its data cycles), at a constant rate after a short warmup.
    relearn = TrainSettings(lr=cfg.relearn_lr, weight_decay=cfg.weight_decay, batch_size=cfg.batch_size,
                            epochs=None, warmup_ratio=0.0, seed=cfg.seed, max_steps=cfg.relearn_steps,
                            schedule="constant", warmup_steps=cfg.relearn_warmup_steps)

    # A mask of block-output dimensions is applied by hooks alone (MLP units' weights are zeroed as well).
    hooks_only = mask is not None and mask.k > 0 and not space.prunable_by_weights

    def on_checkpoint(step: int, epoch: float) -> None:
        stage, evaluation = _evaluate(setup, model, "relearn", step, epoch, hooks_only)
        stages.append(stage)
        evaluations.append(evaluation)
        snapshot(f"relearn@{step}", step)

    t = time.perf_counter()
    with apply_mask(model, space, mask, cfg.mask_mode) if mask is not None else contextlib.nullcontext():
        if unlearned.kind == "none":  # nothing removed, nothing edited: the unlearned model is the base model
            stage, evaluation = dataclasses.replace(base_stage, stage="unlearned", seconds=0.0), base_eval
            console.print("[dim]unlearned: the base model (nothing was removed), its scores reused[/]")
        else:
            stage, evaluation = unlearned_evaluation(setup, model, unlearned, hooks_only)
        stages.append(stage)
        evaluations.append(evaluation)
        snapshot("pruned")
        # Step 0 of relearning is the unlearned model itself: reuse its scores rather than evaluate twice.
        stages.append(dataclasses.replace(stages[-1], stage="relearn"))
        evaluations.append(evaluation)
        resumable = _Resumable(RelearnState(setup.run_id), stages, evaluations, snapshots)
        trained = train(model, relearn_data, relearn, autocast_dtype=setup.autocast_dtype,
                        checkpoints=[c for c in cfg.checkpoints() if c > 0], on_checkpoint=on_checkpoint,
                        description="relearn", checkpointer=resumable)
    timings["relearn"] = time.perf_counter() - t
    if resumable.resumed_from:
        timings["relearn_resumed_at_step"] = float(resumable.resumed_from)  # "relearn" timed only the steps after it

    specs = task.metrics()
    target = next(s.name for s in specs if s.role == "target")
    retain = {s.name: s.higher_is_better for s in specs if s.role == "retain"}
    t = time.perf_counter()
    # The bootstrap draws with the analysis's fixed seed, not the run's: identical runs get identical verdicts.
    uncertainty = run_uncertainty(evaluations, [(s.stage, s.step) for s in stages], target, retain)
    for stage, evaluation, bounds in zip(stages, evaluations, uncertainty.stage_intervals, strict=True):
        stage.intervals = {metric: rounded(b) for metric, b in bounds.items()}
        stage.support = evaluation.metric_support()
    timings["bootstrap"] = time.perf_counter() - t
    by_stage = {s.stage: s.scores for s in stages if s.stage != "relearn"}
    summary = summarize(target, retain, by_stage["base"], by_stage["unlearned"],
                        [(s.step, s.scores) for s in stages if s.stage == "relearn"],
                        forgetting_resolved=uncertainty.forgetting_resolved)

    folder = run_folder(setup.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    _save_npz(folder / EXAMPLES_FILE, {k: v for i, e in enumerate(evaluations) for k, v in pack(e, f"stage{i}").items()})
    if mask is not None:
        mask.save(folder / "mask.safetensors")
    for name, text in unlearned.files.items():
        write_text_atomic(folder / Path(name).name, text)
    if unlearned.scores is not None:
        save_file({"scores": unlearned.scores.float().contiguous()}, str(folder / "unit_scores.safetensors"))
    timings["total"] = time.perf_counter() - t0
    method_entry, task_entry = METHODS.entry(cfg.method), TASKS.entry(cfg.task)
    record = Record(
        schema_version=SCHEMA_VERSION,
        run_id=setup.run_id,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        config=cfg.to_dict(),
        method=MethodInfo(cfg.method, method_entry.obj.version, method_entry.origin,
                          label=setup.method.label(cfg.method, cfg.method_options), info=unlearned.info or {}),
        task=TaskInfo(cfg.task, task_entry.obj.version, task_entry.origin, task.concept, task.fingerprint(),
                      task.describe_data()),
        model=ModelInfo(cfg.model, setup.loaded.source, setup.loaded.fingerprint,
                        from_dict(Preparation, preparation, "preparation"), loaded=setup.loaded.report),
        metrics=[MetricInfo(**dataclasses.asdict(s)) for s in specs],
        unlearning=unlearning_info(unlearned, cfg),
        stages=stages,
        summary=RecordSummary(**dataclasses.asdict(summary), relearn_steps=trained.steps,
                              relearn_steps_per_epoch=trained.steps_per_epoch,
                              intervals={name: rounded(b) for name, b in uncertainty.summary_intervals.items()}),
        provenance=Provenance(**provenance(setup.device, setup.autocast_dtype, cfg.batch_size, cfg.eval_batch_size,
                                           cfg.seed), seed_varies=seed_varies(setup, preparation)),
        timings={name: round(value, 2) for name, value in timings.items()},
        evaluation=EvaluationInfo(EXAMPLES_FILE, evaluations[0].sizes(), dict(evaluations[0].statistics),
                                  Bootstrap(uncertainty.replicates, uncertainty.seed, 0.95,
                                            "the same resampled examples at every stage"),
                                  seeded_samples=list(type(task).seeded_samples)),
    )
    if snapshots:
        save_snapshots(snapshots, folder / "analysis.safetensors")
    write_record(record, folder / "record.json")
    if os.environ.get("BENCH_INDEX", "1") != "0":  # a sweep's remote worker leaves it to the driver
        index(record, folder / "record.json")
    resumable.state.remove()  # the record is written: nothing is left to resume
    # Exactly what was stored (JSON has lists, not tuples). Plots and reports are made from it by a separate
    # step (bench.results.report.write_run_outputs), which `bench run` and `bench sweep` call.
    return read_record(folder / "record.json")
