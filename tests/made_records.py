"""Records with chosen stage scores, summarised by the real metric definitions (so they validate like a
run's), each with per-example columns written beside it as a run exports them (RUN_ID.json + RUN_ID.npz):
for testing what leaderboards and checks compute from records, without running models.

The columns: `EXAMPLES` evaluation examples, a per-example value for the target (`geo-loc`) and the retain metric
(`person`) whose mean is exactly the stage's score. Each value is the score plus a fixed pattern every record
shares (an example's difficulty) plus the stage's own noise: the base stage's noise depends on the seed only
(every method at a seed starts from one base model), the other stages' on the method, its options, the seed
and the score. A stage that repeats the one before it (the none control's unlearned model, relearning's step 0)
repeats its columns, as a run reuses that evaluation. `same_at_every_seed` makes the seed change nothing (a
deterministic method on a task without preparation)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.api.evaluation import Evaluation, Statistic, pack
from bench.api.metrics import summarize
from bench.api.record import (
    SCHEMA_VERSION,
    AttackInfo,
    Bootstrap,
    EvaluationInfo,
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
    read_record,
)
from bench.harness.config import RunConfig

STEPS = (0, 4, 16, 64)
EXAMPLES = 200
NOISE = 0.1  # per-example SD of each stage's own noise: a stage's 95% half-width is about 0.02
# Two samples of the same size: the target's examples and the retain metric's (a task may draw one by seed).
STATISTICS = {"f1/geo-loc": Statistic("targets", "ratio", ("geo-loc", "one")),
              "f1/person": Statistic("retained", "ratio", ("person", "one"))}
SAMPLE = {"geo-loc": "targets", "person": "retained"}
_FOLDER = Path(tempfile.mkdtemp(prefix="made-records-"))


def made_provenance(device: str = "cpu", seed: int = 0, seed_varies: list[str] | None = None) -> Provenance:
    return Provenance(versions={}, python="3.11", platform="test", device={"type": device}, dtype="float32",
                      batch_size=8, eval_batch_size=8, seed=seed, git_commit=None, seed_varies=seed_varies)


def _centred(rng: np.random.Generator, sd: float) -> np.ndarray:
    values = rng.normal(0.0, sd, EXAMPLES)
    return values - values.mean()


DIFFICULTY = _centred(np.random.default_rng(12345), 0.1)


def _noise(*key) -> np.ndarray:
    return _centred(np.random.default_rng(zlib.crc32(repr(key).encode())), NOISE)


ORDER = np.random.default_rng(54321).permutation(EXAMPLES)  # which questions a model gets right first


def stage_columns(scores: list[dict[str, float]], base_key: tuple, stage_key: tuple,
                  binary: bool = False) -> list[dict[str, dict[str, np.ndarray]]]:
    """Per stage, the per-example columns whose means are its scores (see the module docstring). `binary`:
    accuracies on the same questions instead, 0/1 per question, a lower accuracy getting a subset of the
    questions a higher one gets right (so every change between two stages goes one way)."""
    out: list[dict[str, dict[str, np.ndarray]]] = []
    for i, stage in enumerate(scores):
        if i > 0 and stage == scores[i - 1]:
            out.append(out[-1])  # the same model evaluated again: the same columns
            continue
        samples = {}
        for metric, column in (("f1/geo-loc", "geo-loc"), ("f1/person", "person")):
            if binary:
                right = int(round(stage[metric] * EXAMPLES))
                assert abs(right - stage[metric] * EXAMPLES) < 1e-9, "binary scores are multiples of 1/EXAMPLES"
                values = np.isin(np.arange(EXAMPLES), ORDER[:right]).astype(np.float64)
            else:
                key = (*base_key, column) if i == 0 else (*stage_key, column, i, stage[metric])
                values = stage[metric] + DIFFICULTY + _noise(*key)
            samples[SAMPLE[column]] = {column: values, "one": np.ones(EXAMPLES)}
        out.append(samples)
    return out


def made_record(method: str, seed: int, *, base: float = 0.8, unlearned: float = 0.2,
                relearn: tuple[float, ...] = (0.2, 0.4, 0.6, 0.7), retain_base: float = 0.9,
                retain_unlearned: float = 0.85, k: int = 10, method_options: dict | None = None,
                k_requested: int | None = None, label: str | None = None, steps: int | None = None,
                same_at_every_seed: bool = False, device: str = "cpu", binary: bool = False,
                seeded: bool = False, attack: str = "finetune", attack_options: dict | None = None,
                relearn_lr: float | None = None, retain_relearn: tuple[float, ...] | None = None,
                edit: Callable[[list[Evaluation]], None] | None = None) -> Record:
    """A record of `method`; with `steps`, of a weight-editing method that trained that many steps (no mask).
    `binary`: accuracies on the same questions; `seeded`: the seed draws the target's examples (as toxicity's
    completions are sampled), so every stage's target columns differ by seed. `attack`, `attack_options` and
    `relearn_lr`: the attack configuration (a training attack's steps); `retain_relearn`: the retain metric at each
    relearning checkpoint (default: the unlearned model's); `edit`: changes the per-example columns before the
    record is written (the stages' scores are the columns' means again after it)."""
    options = method_options or {}
    fraction = None if steps is not None else 0.1
    cfg = dataclasses.replace(RunConfig(method=method, task="ner", seed=seed, fraction=fraction, model="m",
                                        concept="geo-loc", attack=attack,
                                        relearn_lr=relearn_lr or RunConfig.relearn_lr),
                              method_options=options, attack_options=attack_options or {})
    run_id = hashlib.sha256(repr((method, seed, base, unlearned, relearn, options, steps, retain_base,
                                  retain_unlearned, same_at_every_seed, device, binary, seeded, attack,
                                  attack_options, relearn_lr, retain_relearn, edit is not None)).encode()).hexdigest()[:16]
    scores = [{"f1/geo-loc": base, "f1/person": retain_base}, {"f1/geo-loc": unlearned, "f1/person": retain_unlearned}]
    retained = retain_relearn or (retain_unlearned,) * len(relearn)
    scores += [{"f1/geo-loc": value, "f1/person": kept} for value, kept in zip(relearn, retained, strict=True)]
    varying = () if same_at_every_seed else (seed,)
    columns = stage_columns(scores, ("base", *varying, base, retain_base),
                            (method, repr(sorted(options.items())), steps, *varying), binary=binary)
    evaluations = [Evaluation(c, dict(STATISTICS)) for c in columns]
    if edit is not None:
        evaluations = [Evaluation({name: {k: v.copy() for k, v in sample.items()} for name, sample in e.samples.items()},
                                  dict(STATISTICS)) for e in evaluations]
        edit(evaluations)
    names = ["base", "unlearned", *["relearn"] * len(relearn)]
    stages = [StageScores(name, step, step / 64, {m: v for m, v in e.scores().items()}, 1.0)
              for name, step, e in zip(names, (0, 0, *STEPS), evaluations, strict=True)]
    for stage in stages:  # what a run stores; the leaderboard resamples the columns itself
        stage.intervals = {name: [value - 0.02, value + 0.02] for name, value in stage.scores.items()}
        stage.sizes = {name: EXAMPLES for name in stage.scores}
    summary = summarize("f1/geo-loc", {"f1/person": True}, stages[0].scores, stages[1].scores,
                        [(s.step, s.scores) for s in stages[2:]])
    k = 0 if method in ("none", "never-learned") else k
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
        attack=AttackInfo(attack, 1, "built-in"),
        stages=stages, summary=RecordSummary(**dataclasses.asdict(summary), relearn_steps=64),
        provenance=made_provenance(device, seed),
        evaluation=EvaluationInfo("examples.npz", {"targets": EXAMPLES, "retained": EXAMPLES}, dict(STATISTICS),
                                  Bootstrap(1000, seed, 0.95, "the same resampled examples at every stage"),
                                  seeded_samples=["targets"] if seeded else []),
    )
    return stored(record, evaluations)


def stored(record: Record, evaluations: list[Evaluation]) -> Record:
    """The record and its columns written as an export writes them, and read back exactly as a stored record
    is read."""
    path = _FOLDER / f"{record.run_id}.json"
    path.write_text(json.dumps(record.to_dict()))
    np.savez_compressed(path.with_suffix(".npz"),
                        **{k: v for i, e in enumerate(evaluations) for k, v in pack(e, f"stage{i}").items()})
    return read_record(path)


def copy_to(records: list[Record], folder: Path) -> None:
    """Export `records` (record and columns) into `folder`, as `bench sweep --export` does."""
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        (folder / f"{record.run_id}.json").write_text(json.dumps(record.to_dict()))
        if record.examples is not None:
            (folder / f"{record.run_id}.npz").write_bytes(record.examples.read_bytes())


def made_sweep(method_relearn: dict[str, list[tuple[float, ...]]], **kwargs) -> list[Record]:
    """Records of several methods over seeds: method -> one relearning curve per seed (seed = position)."""
    records = []
    for method, curves in method_relearn.items():
        for seed, curve in enumerate(curves):
            unlearned = kwargs.get("unlearned", 0.2) if method != "none" else 0.8
            records.append(made_record(method, seed, unlearned=unlearned, relearn=curve,
                                       retain_unlearned=0.9 if method == "none" else 0.85,
                                       relearn_lr=kwargs.get("relearn_lr")))
    return records
