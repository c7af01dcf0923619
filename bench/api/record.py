"""The one versioned result record: written by runs, read by `show` (and later leaderboards and checks).

The schema version is the first field; readers migrate older versions and refuse newer ones.
Version 2 added evaluation uncertainty: each stage's 95% bootstrap interval and example count per metric,
the summary's intervals and whether forgetting is resolved from the evaluation noise, collateral per retain
metric, and the `evaluation` section (how the metrics are made from the per-example file). Version 3 added
`model.loaded`: the checkpoint's format and stored dtype, the dtype the run holds it in, and what became of
its own task head. Version 4 moved `mask` into the `unlearning` section (kind, budget, mask if any): a
weight-editing method has no mask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from bench.api.evaluation import Statistic, unpack
from bench.api.metrics import COLLATERAL_BOUNDS, Summary, attacker_damage, rt90_status
from bench.api.typed import (
    constrained,
    from_dict,
    json_schema,
    optional,
    to_dict,
    transient,
)
from bench.core.errors import BenchError
from bench.core.files import write_json_atomic
from bench.models.loading import LoadReport

SCHEMA_VERSION = 5
# What every run before attacks were plug-ins (schema 5) did: full fine-tuning on the task's relearning split, the
# code that is `finetune` version 1 (bench.attacks.finetune), with the relearn_* settings in its config.
FIRST_ATTACK = {"name": "finetune", "version": 1, "origin": "built-in"}


@dataclass
class MethodInfo:
    name: str
    version: int
    origin: str  # "built-in" or the distribution that registered it
    label: str | None = optional()  # the method with its options, as pages show it (absent in version 1)
    info: dict[str, Any] = field(default_factory=dict)  # what the method reports of itself (its ranking, its LLM)


def with_options(name: str, options: dict[str, Any] | None) -> str:
    """A plug-in's name with its explicit options: "quantize (bits=8)"."""
    return name + (f" ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})" if options else "")


@dataclass
class AttackInfo:
    """The relearning attack that ran (its options are in the config's `attack_options`)."""

    name: str
    version: int
    origin: str  # "built-in" or the distribution that registered it
    info: dict[str, Any] = field(default_factory=dict)  # what the attack reports (its data, what it kept)
    unit: str = "steps"  # what the relearning stages' `step` counts: optimizer "steps", "shots", "applications"
    # The attacker's own bound: at each checkpoint after step 0, every retain metric's relative drop from the base
    # model (step -> metric -> drop; a rise for a loss); a checkpoint where one exceeds its family's bound
    # (`bounds`, the leaderboard's collateral bounds) left the model unusable and is inadmissible. None: written
    # before the bound was checked (schema 4 records).
    bounds: dict[str, float] | None = optional()
    damage: dict[str, dict[str, float | None]] | None = optional()
    inadmissible: list[int] | None = optional()


@dataclass
class TaskInfo:
    name: str
    version: int
    origin: str
    concept: str
    data_fingerprint: str
    data: dict[str, Any] = field(default_factory=dict)  # sizes and sources (Task.describe_data)


@dataclass
class Preparation:
    """The task's fine-tuning of the loaded model before the method sees it (absent fields: not fine-tuned)."""

    finetuned: bool
    without_concept: bool | None = optional()  # the never-learned control's: prepared with the concept taken out
    cache_key: str | None = optional()
    examples: int | None = optional(minimum=0)
    steps: int | None = optional(minimum=0)
    seconds: float | None = optional(minimum=0)
    final_loss: float | None = optional()
    settings: dict[str, Any] | None = optional()
    scores_before: dict[str, float | None] | None = optional()  # scores before it, when it gives the capability


@dataclass
class ModelInfo:
    ref: str  # what the run was given: a hub id or a local path
    source: str  # where it was loaded from
    fingerprint: str  # content hash of the weights
    preparation: Preparation = field(default_factory=lambda: Preparation(finetuned=False))
    loaded: LoadReport | None = optional()  # format, stored and run dtype, what became of its head (version 3)


@dataclass
class MetricInfo:
    """A metric as the record states it (bench.api.task.MetricSpec at the time of the run; version-1 records
    have no family)."""

    name: str
    role: Literal["target", "retain", "info"]
    higher_is_better: bool = True
    family: Literal["accuracy", "nll"] | None = None


@dataclass(kw_only=True)
class MaskInfo:
    # Records before k_requested / k_pruned existed pruned exactly k (they filled the rest).
    __schema__: ClassVar[dict[str, Any]] = {"dependentRequired": {"k_pruned": ["k_requested"],
                                                                  "k_requested": ["k_pruned"]}}

    hash: str
    space: str
    mode: str
    k: int = constrained(minimum=0)
    k_requested: int | None = optional(minimum=0)
    k_pruned: int | None = optional(minimum=0)
    total: int = constrained(minimum=1)
    per_layer: list[int]
    file: str


@dataclass
class UnlearningInfo:
    """What the method did. kind: "mask" (units pruned), "weights" (weights edited in place), "both", or
    "none" (the `none` control, or a ranking that selected no unit). budget: what it was given, in its family's
    units: {"units": k, "fraction": f} for pruning, {"steps": n, "lr": ..., "batch_size": b, ...} for
    weight editing."""

    kind: Literal["mask", "weights", "both", "none"]
    budget: dict[str, Any] = field(default_factory=dict)
    mask: MaskInfo | None = optional()

    def steps_text(self) -> str | None:
        """"32 steps at lr 1e-05" for a weight-editing budget (None for a unit budget)."""
        steps = self.budget.get("steps")
        return None if steps is None else f"{steps} steps at lr {self.budget.get('lr'):g}"


@dataclass
class StageScores:
    stage: Literal["base", "unlearned", "relearn"]
    step: int = constrained(minimum=0)  # relearning optimizer step (0 for base and unlearned)
    epoch: float = constrained(minimum=0)
    # None: undefined on these examples (e.g. no entity of that type)
    scores: dict[str, float | None] = constrained(minProperties=1)
    seconds: float = constrained(minimum=0)  # wall time of this evaluation
    intervals: dict[str, list[float] | None] = field(default_factory=dict)  # metric -> 95% bootstrap [low, high]
    # metric -> evaluation examples resampled for it: the rows of its sample (every CBT question for each
    # category's accuracy, every evaluation sentence for an entity type's F1)
    sizes: dict[str, int] = field(default_factory=dict)
    # metric -> what it is computed on: questions of its category, gold entities of its type, completions,
    # tokens (the sum of its support column; bench.api.evaluation.Statistic.support_column)
    support: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordSummary(Summary):
    """The headline numbers (bench.api.metrics.Summary), the attack's length, and each figure's interval."""

    relearn_steps: int | None = None  # optimizer steps the attack actually took
    relearn_steps_per_epoch: int | None = None
    intervals: dict[str, list[float] | None] = field(default_factory=dict)  # figure -> 95% bootstrap interval
    migrated_from: int | None = optional()  # the schema version whose definitions its figures follow


@dataclass
class Provenance:
    versions: dict[str, str | None]  # package -> version
    python: str
    platform: str
    device: dict[str, Any]
    dtype: str
    batch_size: int
    eval_batch_size: int
    seed: int
    git_commit: str | None
    seed_varies: list[str] | None = None  # what differs between two seeds of this configuration


@dataclass
class Bootstrap:
    replicates: int
    seed: int
    confidence: float
    paired: str


@dataclass
class EvaluationInfo:
    """How the metrics are made from the per-example columns in `file` (bench.api.evaluation), the bootstrap's
    replicates and seed: enough to recompute every interval, or to pair this run with another."""

    file: str
    sizes: dict[str, int]  # sample -> rows
    statistics: dict[str, Statistic]  # metric -> how it is computed from the columns
    bootstrap: Bootstrap
    # The samples whose examples the run's seed drew (toxicity's completions): two seeds score other examples
    # there, so their spread already holds that evaluation error. Absent in records written before it existed
    # (bench.results.paired.seeded_samples reads their `seed_varies` instead).
    seeded_samples: list[str] | None = optional()


@dataclass
class Record:
    __schema__: ClassVar[dict[str, Any]] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                            "title": "relearn-bench run record"}

    schema_version: int = constrained(minimum=1, maximum=SCHEMA_VERSION)
    run_id: str = constrained(pattern="^[0-9a-f]{16}$")
    created: str = constrained(format="date-time")
    # The resolved RunConfig as a mapping: its fields are those of the harness version that ran it.
    config: dict[str, Any] = constrained(required=["method", "task", "seed", "model", "concept", "fraction",
                                                       "k", "unit_space", "mask_mode", "method_options",
                                                       "task_options"])
    method: MethodInfo
    task: TaskInfo
    model: ModelInfo
    metrics: list[MetricInfo] = constrained(minItems=1)  # every score's metric, first target = primary
    unlearning: UnlearningInfo
    attack: AttackInfo
    stages: list[StageScores] = constrained(minItems=3)
    summary: RecordSummary
    provenance: Provenance
    timings: dict[str, float] = field(default_factory=dict)  # stage -> wall seconds
    evaluation: EvaluationInfo | None = optional()  # absent in version 1 (no per-example columns)
    # Where this record's per-example columns were found when it was read (not part of the record: where it
    # was found). Leaderboards resample them jointly with other runs' (bench.results.paired).
    examples: Path | None = transient()
    # Whether `bench verify` ran this record's configuration again and every figure agreed (RUN_ID.verification.json
    # beside it; None: never verified), as read with it.
    verified: bool | None = transient()

    @property
    def mask(self) -> MaskInfo | None:
        """The unit mask, when the method pruned (None for a weight-editing method)."""
        return self.unlearning.mask

    def stage(self, name: str) -> list[StageScores]:
        return [s for s in self.stages if s.stage == name]

    def attack_label(self) -> str:
        """The attack with its options: "finetune", "quantize (bits=8)"."""
        return with_options(self.attack.name, self.config.get("attack_options"))

    def inadmissible_steps(self, bounds: dict[str, float] | None = None) -> list[int]:
        """The attack's checkpoints beyond the attacker's bound: as recorded, or, for a record written before the
        bound was checked or against other `bounds` than it was checked with, from its stages (the same rule, bench.api.metrics)."""
        if self.attack.inadmissible is not None and (bounds is None or bounds == self.attack.bounds):
            return list(self.attack.inadmissible)
        retain = [m for m in self.metrics if m.role == "retain"]
        base = self.stage("base")[0].scores
        return attacker_damage(base, [(s.step, s.scores) for s in self.stage("relearn")],
                               {m.name: m.higher_is_better for m in retain},
                               {m.name: m.family or "accuracy" for m in retain},
                               COLLATERAL_BOUNDS if bounds is None else bounds)[1]

    def metric_names(self, role: str) -> list[str]:
        """Names of the metrics with `role` ("target", "retain" or "info"), in the task's order."""
        return [m.name for m in self.metrics if m.role == role]

    def averaged_retain_names(self) -> list[str]:
        """The retain metrics a plain mean can combine: those where higher is better (accuracies, F1).
        A perplexity has another scale and direction; it is shown on its own."""
        return [m.name for m in self.metrics if m.role == "retain" and m.higher_is_better]

    def retain_mean(self, scores: dict[str, float]) -> float | None:
        """Mean of the averaged retain metrics in one stage's `scores` (None when there are none)."""
        names = self.averaged_retain_names()
        return sum(scores[n] for n in names) / len(names) if names else None

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "record") -> Record:
        """A record of this or an older schema version (migrated); a newer one is refused."""
        return from_dict(cls, migrate(data, where), where)


def record_schema() -> dict[str, Any]:
    """The JSON schema of a (current-version) record, generated from the dataclasses above."""
    return json_schema(Record)


def migrate(data: Any, where: str = "record") -> dict[str, Any]:
    """An older record in the current schema (a copy; newer versions are refused). Version 1 had no
    evaluation uncertainty: its intervals are absent (not zero), its forgetting counts as unresolved, and its
    collateral is the mean it was."""
    if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int):
        raise BenchError(f"{where}: not a relearn-bench record (no schema_version)")
    version = data["schema_version"]
    if version > SCHEMA_VERSION:
        raise BenchError(f"{where}: record schema {version} is newer than this relearn-bench reads ({SCHEMA_VERSION}); upgrade")
    data = dict(data)
    if version == 1:
        summary = dict(data.get("summary") or {})
        summary["migrated_from"] = 1  # its figures follow version 1's definitions (collateral was a mean)
        summary.setdefault("forgetting_resolved", False)
        summary.setdefault("collateral_by_metric", {})
        summary.setdefault("removed", None)
        summary.setdefault("relearned", None)
        summary.setdefault("intervals", {})
        summary.setdefault("rt90_status", rt90_status(summary.get("rt90"), summary.get("recovery", [])))
        data["summary"] = summary
        data["schema_version"] = 2
    if data["schema_version"] == 2:  # version 3 added model.loaded; absent means not recorded
        data["schema_version"] = 3
    if data["schema_version"] == 3:  # version 4: every earlier run pruned (or, k = 0, was the none control)
        mask = data.pop("mask", None)
        if isinstance(mask, dict):
            config = data.get("config") or {}
            units = mask.get("k_requested", mask.get("k"))
            budget = {"units": units, **({"fraction": config["fraction"]} if config.get("fraction") is not None else {})}
            data["unlearning"] = {"kind": "mask" if mask.get("k") else "none", "budget": budget, "mask": mask}
        data["schema_version"] = 4
    if data["schema_version"] == 4:  # version 5: the attack is a plug-in; every earlier run was today's finetune
        data["config"] = {**(data.get("config") or {}), "attack": FIRST_ATTACK["name"], "attack_options": {}}
        data["attack"] = dict(FIRST_ATTACK)
        data["schema_version"] = 5
    return data


# Beside a record: `bench verify`'s report on it (bench.results.verify), not a record.
VERIFICATION_SUFFIX = ".verification.json"


def record_files(folder: Path) -> list[Path]:
    """The record files under `folder`, recursively (verification reports beside them are not records)."""
    return sorted(p for p in Path(folder).rglob("*.json") if not p.name.endswith(VERIFICATION_SUFFIX))


def verification_path(record_path: Path) -> Path:
    """Where `bench verify`'s report on the record at `record_path` goes: beside it."""
    return record_path.with_name(record_path.stem + VERIFICATION_SUFFIX)


def with_verification(record: Record, path: Path) -> Record:
    """The record marked with what a verification report beside it (for this run) found."""
    report = verification_path(path)
    if report.exists():
        data = read_record_json(report)
        if isinstance(data, dict) and data.get("run_id") == record.run_id:
            record.verified = bool(data.get("agrees"))
    return record


def with_support(record: Record, examples: Path) -> Record:
    """Records written before stages carried `support` get it from their own per-example columns (the
    run's examples file, or RUN_ID.npz beside an exported record): a pure function of what the run recorded,
    so pages can say what every metric was computed on. Records without their columns stay as they are."""
    if record.evaluation is not None and examples.exists():
        record.examples = examples
    if record.evaluation is None or not examples.exists() or all(s.support for s in record.stages):
        return record
    with np.load(examples) as arrays:
        columns = dict(arrays)
    for number, stage in enumerate(record.stages):
        if not stage.support:
            stage.support = unpack(columns, f"stage{number}", record.evaluation.statistics).metric_support()
    return record


def write_record(record: Record, path: Path) -> None:
    write_json_atomic(path, record.to_dict())


def read_record_json(path: Path, error: type[BenchError] = BenchError) -> Any:
    """A record file's JSON; a missing file or bad JSON raises `error` naming the file (and line)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise error(f"no record at {path}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def examples_file(record: Record, path: Path) -> Path:
    """The per-example columns of the record at `path`: RUN_ID.npz beside an exported record, or the file the
    record names in its run folder."""
    exported = path.with_suffix(".npz")
    if exported.exists() or record.evaluation is None:
        return exported
    return path.parent / record.evaluation.file


def read_record(path: Path) -> Record:
    """The record at `path`, migrated to the current schema, with its support filled in from its columns."""
    record = Record.from_dict(read_record_json(path), where=str(path))
    return with_support(record, examples_file(record, path))
