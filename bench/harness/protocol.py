"""The protocol of one run, as its steps: resolve (bench.harness.resolution) → prepare → evaluate the base
model → unlearn → evaluate the unlearned model (bench.harness.caches share both) → relearn with evaluations at
checkpoints → summary → record. The CLI and Python users both call `run`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from bench.api.attack import AttackContext, AttackResult, StepBudget
from bench.api.evaluation import Evaluation, pack
from bench.api.method import UnlearnContext, UnlearningResult
from bench.api.metrics import COLLATERAL_BOUNDS, attacker_damage, summarize
from bench.api.record import (
    SCHEMA_VERSION,
    AttackInfo,
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
    write_record,
)
from bench.api.typed import from_dict
from bench.core.errors import BenchError
from bench.core.files import write_text_atomic
from bench.core.paths import subdir
from bench.core.plugins import ATTACKS, METHODS, TASKS
from bench.core.progress import console
from bench.harness import caches
from bench.harness.caches import (
    base_evaluation,
    prepare,
    save_npz,
    unlearned_evaluation,
)
from bench.harness.config import RunConfig
from bench.harness.provenance import provenance
from bench.harness.resolution import ResolvedRun, resolve_run, seed_everything
from bench.harness.resume import RelearnState
from bench.harness.store import existing_record, index, run_folder
from bench.harness.uncertainty import rounded, run_uncertainty
from bench.harness.unlearned_store import unlearn_once
from bench.neurons.masks import apply_mask
from bench.neurons.units import unit_space

EXAMPLES_FILE = "examples.npz"  # each stage's per-example columns (stage{i}/sample/column), beside the record


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


def unrelated_size(setup: ResolvedRun) -> dict[str, int]:
    """How much unrelated text the attack asked for (its `texts` option; the task's default otherwise)."""
    texts = getattr(setup.attack.options, "texts", None)
    return {} if texts is None else {"texts": texts}


def attack_info(name: str, entry, attacked: AttackResult, stages: list[StageScores], specs) -> AttackInfo:
    """The record's attack section: what the attack reported, and the attacker's own bound checked at each of
    its checkpoints (an attack that wrecked the model has not shown that the concept came back)."""
    retain = {s.name: s.higher_is_better for s in specs if s.role == "retain"}
    families = {s.name: s.family for s in specs if s.role == "retain"}
    base = next(s.scores for s in stages if s.stage == "base")
    damage, inadmissible = attacker_damage(base, [(s.step, s.scores) for s in stages if s.stage == "relearn"],
                                           retain, families, COLLATERAL_BOUNDS)
    if inadmissible:
        console.print(f"[yellow]the attack went beyond the attacker's bound (retain damage > "
                      f"{', '.join(f'{k} {v:g}' for k, v in COLLATERAL_BOUNDS.items())}) at "
                      f"{attacked.unit} {', '.join(map(str, inadmissible))}: those checkpoints are inadmissible[/]")
    return AttackInfo(name, entry.obj.version, entry.origin, info=attacked.info, unit=attacked.unit,
                      bounds=dict(COLLATERAL_BOUNDS), damage=damage, inadmissible=inadmissible)


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


def unlearn_context(setup: ResolvedRun, space, concept, preparation: dict[str, Any], **more: Any) -> UnlearnContext:
    """What a method sees of the run: the unit space, the concept data, the task's forget and retain sets (built
    when first asked for), the budget and the run's batching; `more` adds a frontier's checkpoints."""
    cfg, task, tokenizer = setup.cfg, setup.task, setup.loaded.tokenizer
    return UnlearnContext(space=space, concept=concept, fraction=cfg.fraction, k=cfg.k, seed=cfg.seed,
                          batch_size=cfg.eval_batch_size, device=setup.device, tokenizer=tokenizer,
                          autocast_dtype=setup.autocast_dtype, train_batch_size=cfg.batch_size,
                          forget_source=lambda: task.forget_data(tokenizer),
                          retain_source=lambda: task.retain_data(tokenizer),
                          statistics_key=json.dumps([preparation.get("cache_key") or setup.loaded.fingerprint,
                                                     setup.device.type, str(setup.autocast_dtype)]), **more)


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
        return _run_protocol(setup, setup_seconds, fresh=force), True


def _run_protocol(setup: ResolvedRun, setup_seconds: float, fresh: bool = False) -> Record:
    """`fresh`: unlearn even where a run with the same unlearned model kept it (`--force` computes everything)."""
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
    ctx = unlearn_context(setup, space, concept, preparation)
    if cfg.analyze:  # the base snapshot and a method's own pass over the concept data share one stream
        snapshots.append(snapshot_from(ctx.concept_statistics(model, top_k=HAT_K), concept, "base"))

    t = time.perf_counter()
    # Runs that differ only in the attack unlearn once (bench.harness.unlearned_store keeps what the method made).
    kept = unlearn_once(caches.unlearned_id(setup), setup.run_id, model, lambda: setup.method.unlearn(model, ctx),
                        fresh=fresh)
    unlearned = kept.result
    timings["unlearn"] = time.perf_counter() - t
    if kept.reused_from is not None:  # "unlearn" timed the load; what the unlearning itself cost:
        timings["unlearn_first"] = kept.seconds
    mask = unlearned.mask
    if mask is not None and mask.k < unlearned.k_requested:
        console.print(f"[yellow]{cfg.method} ranked only {mask.k} units: it prunes {mask.k} of the "
                      f"{unlearned.k_requested} the budget allows (the record and the leaderboard say so)[/]")
    model.eval()  # a plug-in method that trains by itself may leave dropout on for the evaluation

    # Built here, before the mask is applied, as it always was: what the attack trains on is not moved by it.
    relearn_data = task.relearn_data(tokenizer) if type(setup.attack).trains else None

    # A mask of block-output dimensions is applied by hooks alone (MLP units' weights are zeroed as well).
    hooks_only = mask is not None and mask.k > 0 and not space.prunable_by_weights
    shown: list[tuple[str, ...]] = [()]  # the in-context attack's examples, in front of the target's prompts

    def on_checkpoint(step: int, epoch: float) -> None:
        stage, evaluation = caches.evaluate(setup, model, "relearn", step, epoch, hooks_only, shown[0])
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
        # The attacker's budget is steps, not epochs (its data cycles), at a constant rate after a short warmup.
        attack_ctx = AttackContext(
            budget=StepBudget(cfg.relearn_steps, cfg.relearn_lr, cfg.relearn_warmup_steps, tuple(cfg.checkpoints())),
            seed=cfg.seed, batch_size=cfg.batch_size, weight_decay=cfg.weight_decay, device=setup.device,
            tokenizer=tokenizer, autocast_dtype=setup.autocast_dtype, on_checkpoint=on_checkpoint,
            checkpointer=resumable,
            relearn_source=lambda: relearn_data if relearn_data is not None else task.relearn_data(tokenizer),
            retain_source=lambda: task.retain_data(tokenizer),
            unrelated_source=lambda: task.unrelated_data(tokenizer, **unrelated_size(setup)),
            demonstration_source=lambda k: task.demonstrations(tokenizer, k),
            show_in_prompt=lambda texts: shown.__setitem__(0, tuple(texts)))
        attacked = setup.attack.attack(model, attack_ctx)
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
    save_npz(folder / EXAMPLES_FILE, {k: v for i, e in enumerate(evaluations) for k, v in pack(e, f"stage{i}").items()})
    if mask is not None:
        mask.save(folder / "mask.safetensors")
    for name, text in unlearned.files.items():
        write_text_atomic(folder / Path(name).name, text)
    if unlearned.scores is not None:
        save_file({"scores": unlearned.scores.float().contiguous()}, str(folder / "unit_scores.safetensors"))
    timings["total"] = time.perf_counter() - t0
    method_entry, task_entry, attack_entry = METHODS.entry(cfg.method), TASKS.entry(cfg.task), ATTACKS.entry(cfg.attack)
    record = Record(
        schema_version=SCHEMA_VERSION,
        run_id=setup.run_id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config=cfg.to_dict(),
        method=MethodInfo(cfg.method, method_entry.obj.version, method_entry.origin,
                          label=setup.method.label(cfg.method, cfg.method_options), info=unlearned.info or {}),
        task=TaskInfo(cfg.task, task_entry.obj.version, task_entry.origin, task.concept, task.fingerprint(),
                      task.describe_data()),
        model=ModelInfo(cfg.model, setup.loaded.source, setup.loaded.fingerprint,
                        from_dict(Preparation, preparation, "preparation"), loaded=setup.loaded.report),
        metrics=[MetricInfo(**dataclasses.asdict(s)) for s in specs],
        unlearning=unlearning_info(unlearned, cfg),
        attack=attack_info(cfg.attack, attack_entry, attacked, stages, specs),
        stages=stages,
        summary=RecordSummary(**dataclasses.asdict(summary), relearn_steps=attacked.steps,
                              relearn_steps_per_epoch=attacked.steps_per_epoch,
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
