"""What runs share instead of computing again, each under a content key and a file lock (runs that start
together wait for the first one): the prepared (fine-tuned) model, and the evaluations of the base and the
unlearned model with the per-example columns the paired bootstrap needs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from torch import nn

from bench.api.evaluation import Evaluation, Statistic, pack, unpack
from bench.api.method import UnlearningResult
from bench.api.record import StageScores
from bench.api.task import EvalSettings
from bench.core.files import atomic_file, write_json_atomic
from bench.core.paths import subdir
from bench.core.progress import console
from bench.harness.config import RunConfig
from bench.harness.resolution import STEP_BUDGET_FIELDS, ResolvedRun, run_id_of
from bench.models.loading import auto_model_class, head_kwargs
from bench.models.training import TrainSettings, train


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
        before = evaluate(setup, model.eval(), "before preparation")[0].scores
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


def evaluate(setup: ResolvedRun, model: nn.Module, stage: str, step: int = 0, epoch: float = 0.0,
             mask_outside_weights: bool = False, demonstrations: tuple[str, ...] = ()) -> tuple[StageScores, Evaluation]:
    start = time.perf_counter()
    settings = EvalSettings(batch_size=setup.cfg.eval_batch_size, autocast_dtype=setup.autocast_dtype,
                            mask_outside_weights=mask_outside_weights, demonstrations=demonstrations)
    evaluation = setup.task.evaluate(model, setup.loaded.tokenizer, settings)
    result = StageScores(stage, step, round(epoch, 4), evaluation.scores(), round(time.perf_counter() - start, 3),
                         sizes=evaluation.metric_sizes())
    target = setup.task.metrics()[0].name
    where = f" step {step}" if stage == "relearn" else ""
    console.print(f"[dim]{stage}{where}:[/] {target} = {show(result.scores[target])}")
    return result, evaluation


def show(value: float | None) -> str:
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
RELEARNING_FIELDS = (*STEP_BUDGET_FIELDS, "attack", "attack_options", "analyze")


def unlearned_id(setup: ResolvedRun) -> str:
    """The unlearned model's own run id: everything the run id hashes but the attacker's settings."""
    defaults = RunConfig()
    before_relearning = dataclasses.replace(setup.cfg, **{f: getattr(defaults, f) for f in RELEARNING_FIELDS})
    return run_id_of(before_relearning, setup.device.type, setup.loaded.fingerprint, setup.task, setup.method, None)


def unlearned_evaluation(setup: ResolvedRun, model: nn.Module, unlearned: UnlearningResult,
                         mask_outside_weights: bool) -> tuple[StageScores, Evaluation]:
    """The unlearned model's scores, shared by runs that differ only in the attack and its budget. The key is
    everything else the run id hashes, and what the method produced: the mask's bits and, when it edited
    weights, their digest (a method whose output is not reproducible, such as an LLM answering differently
    or a GPU kernel's order of sums, then gets its own evaluation instead of another run's)."""
    key_parts = {"unlearned": unlearned_id(setup),
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
            console.print(f"[dim]{stage}: {show(scores.scores.get(setup.task.metrics()[0].name))} "
                          f"(evaluated before: {path.name})[/]")
            return scores, evaluation
        scores, evaluation = evaluate(setup, model, stage, mask_outside_weights=mask_outside_weights)
        save_npz(columns, pack(evaluation, stage))
        write_json_atomic(path, {"stage": dataclasses.asdict(scores),
                                 "statistics": {m: dataclasses.asdict(s) for m, s in evaluation.statistics.items()}})
        return scores, evaluation


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Compressed, written to a temporary file and renamed (readers never see half a file)."""
    with atomic_file(path) as handle:
        np.savez_compressed(handle, **arrays)
