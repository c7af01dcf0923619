"""Records with chosen stage scores, summarised by the real metric definitions (so they validate like a
run's): for testing what leaderboards and checks compute from records, without running models."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from bench.api.metrics import summarize
from bench.api.record import (
    SCHEMA_VERSION,
    MaskInfo,
    MethodInfo,
    MetricInfo,
    ModelInfo,
    Provenance,
    Record,
    RecordSummary,
    StageScores,
    TaskInfo,
    UnlearningInfo,
)
from bench.harness.config import RunConfig

STEPS = (0, 4, 16, 64)


def made_provenance(device: str = "cpu", seed: int = 0) -> Provenance:
    return Provenance(versions={}, python="3.11", platform="test", device={"type": device}, dtype="float32",
                      batch_size=8, eval_batch_size=8, seed=seed, git_commit=None)


def made_record(method: str, seed: int, *, base: float = 0.8, unlearned: float = 0.2,
                relearn: tuple[float, ...] = (0.2, 0.4, 0.6, 0.7), retain_base: float = 0.9,
                retain_unlearned: float = 0.85, k: int = 10, method_options: dict | None = None,
                k_requested: int | None = None, label: str | None = None, steps: int | None = None) -> Record:
    """A record of `method`; with `steps`, of a weight-editing method that trained that many steps (no mask)."""
    options = method_options or {}
    fraction = None if steps is not None else 0.1
    cfg = dataclasses.replace(RunConfig(method=method, task="ner", seed=seed, fraction=fraction, model="m",
                                        concept="geo-loc"), method_options=options)
    run_id = hashlib.sha256(repr((method, seed, base, unlearned, relearn, options, steps)).encode()).hexdigest()[:16]
    stages = [StageScores("base", 0, 0.0, {"f1/geo-loc": base, "f1/person": retain_base}, 1.0),
              StageScores("unlearned", 0, 0.0, {"f1/geo-loc": unlearned, "f1/person": retain_unlearned}, 1.0)]
    stages += [StageScores("relearn", step, step / 64, {"f1/geo-loc": value, "f1/person": retain_unlearned}, 1.0)
               for step, value in zip(STEPS, relearn, strict=True)]
    for stage in stages:  # an evaluation error of +-0.02 on every score
        stage.intervals = {name: [value - 0.02, value + 0.02] for name, value in stage.scores.items()}
    summary = summarize("f1/geo-loc", {"f1/person": True}, stages[0].scores, stages[1].scores,
                        [(s.step, s.scores) for s in stages[2:]])
    k = 0 if method == "none" else k
    record = Record(
        schema_version=SCHEMA_VERSION, run_id=run_id, created="2026-11-23T00:00:00+00:00", config=cfg.to_dict(),
        method=MethodInfo(method, 1, "built-in", label=label),
        task=TaskInfo("ner", 1, "built-in", "geo-loc", "d"),
        model=ModelInfo("m", "local", "f"),
        metrics=[MetricInfo("f1/geo-loc", "target", True), MetricInfo("f1/person", "retain", True, "accuracy")],
        unlearning=UnlearningInfo("weights", {"steps": steps, "lr": 1e-5}) if steps is not None else UnlearningInfo(
            kind="mask" if k else "none", budget={"units": k if k_requested is None else k_requested},
            mask=MaskInfo(hash="h", space="mlp", mode="persistent", k=k, total=100, per_layer=[k, 0],
                          k_requested=k if k_requested is None else k_requested, k_pruned=k, file="mask.safetensors")),
        stages=stages, summary=RecordSummary(**dataclasses.asdict(summary), relearn_steps=64),
        provenance=made_provenance())
    # Through JSON and back, exactly as a stored record is read.
    return Record.from_dict(json.loads(json.dumps(record.to_dict())))


def made_sweep(method_relearn: dict[str, list[tuple[float, ...]]], **kwargs) -> list[Record]:
    """Records of several methods over seeds: method -> one relearning curve per seed (seed = position)."""
    records = []
    for method, curves in method_relearn.items():
        for seed, curve in enumerate(curves):
            unlearned = kwargs.get("unlearned", 0.2) if method != "none" else 0.8
            records.append(made_record(method, seed, unlearned=unlearned, relearn=curve,
                                       retain_unlearned=0.9 if method == "none" else 0.85))
    return records
