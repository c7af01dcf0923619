"""The one versioned result record: written by runs, read by `show` (and later leaderboards and checks).

The schema version is the first field; readers migrate older versions and refuse newer ones.
Version 2 added evaluation uncertainty: each stage's 95% bootstrap interval and example count per metric,
the summary's intervals and whether forgetting is resolved from the evaluation noise, collateral per retain
metric, and the `evaluation` section (how the metrics are made from the per-example file).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.api.metrics import rt90_status
from bench.core.errors import BenchError

SCHEMA_VERSION = 2


@dataclass
class StageScores:
    stage: str  # "base", "unlearned" or "relearn"
    step: int  # relearning optimizer step (0 for base and unlearned)
    epoch: float
    scores: dict[str, float | None]  # None: undefined on these examples (e.g. no entity of that type)
    seconds: float  # wall time of this evaluation
    intervals: dict[str, list[float] | None] = field(default_factory=dict)  # metric -> 95% bootstrap [low, high]
    # metric -> evaluation examples resampled for it: the rows of its sample (every CBT question for each
    # category's accuracy, every evaluation sentence for an entity type's F1)
    sizes: dict[str, int] = field(default_factory=dict)
    # metric -> what it is computed on: questions of its category, gold entities of its type, completions,
    # tokens (the sum of its support column; bench.api.evaluation.Statistic.support_column)
    support: dict[str, int] = field(default_factory=dict)


@dataclass
class Record:
    schema_version: int
    run_id: str
    created: str
    config: dict[str, Any]
    method: dict[str, Any]  # name, version, origin
    task: dict[str, Any]  # name, version, origin, concept, data fingerprint and description
    model: dict[str, Any]  # ref, source, fingerprint, preparation
    metrics: list[dict[str, Any]]  # MetricSpec of every score, first target = primary
    mask: dict[str, Any]  # hash, space, mode, k, total, per_layer, file
    stages: list[StageScores]
    summary: dict[str, Any]
    provenance: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    # How the metrics are made from the per-example columns in `file` (bench.api.evaluation), the bootstrap's
    # replicates and seed: enough to recompute every interval, or to pair this run with another.
    evaluation: dict[str, Any] = field(default_factory=dict)

    def stage(self, name: str) -> list[StageScores]:
        return [s for s in self.stages if s.stage == name]

    def metric_names(self, role: str) -> list[str]:
        """Names of the metrics with `role` ("target", "retain" or "info"), in the task's order."""
        return [m["name"] for m in self.metrics if m["role"] == role]

    def averaged_retain_names(self) -> list[str]:
        """The retain metrics a plain mean can combine: those where higher is better (accuracies, F1).
        A perplexity has another scale and direction; it is shown on its own."""
        return [m["name"] for m in self.metrics if m["role"] == "retain" and m.get("higher_is_better", True)]

    def retain_mean(self, scores: dict[str, float]) -> float | None:
        """Mean of the averaged retain metrics in one stage's `scores` (None when there are none)."""
        names = self.averaged_retain_names()
        return sum(scores[n] for n in names) / len(names) if names else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "record") -> Record:
        version = data.get("schema_version")
        if not isinstance(version, int):
            raise BenchError(f"{where}: not a relearn-bench record (no schema_version)")
        if version > SCHEMA_VERSION:
            raise BenchError(f"{where}: record schema {version} is newer than this relearn-bench reads ({SCHEMA_VERSION}); upgrade")
        data = migrate(dict(data))
        data["stages"] = [StageScores(**s) for s in data["stages"]]
        try:
            return cls(**data)
        except TypeError as exc:
            raise BenchError(f"{where}: malformed record ({exc})") from None


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """An older record in the current schema. Version 1 had no evaluation uncertainty: its intervals are
    absent (not zero), its forgetting counts as unresolved, and its collateral is the mean it was."""
    if data["schema_version"] == 1:
        summary = dict(data.get("summary") or {})
        summary["migrated_from"] = 1  # its figures follow version 1's definitions (collateral was a mean)
        summary.setdefault("forgetting_resolved", False)
        summary.setdefault("collateral_by_metric", {})
        summary.setdefault("removed", None)
        summary.setdefault("intervals", {})
        summary.setdefault("rt90_status", rt90_status(summary.get("rt90"), summary.get("recovery", [])))
        data["summary"] = summary
        data["schema_version"] = 2
    return data


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def read_record(path: Path) -> Record:
    return Record.from_dict(read_record_json(path), where=str(path))
