"""Record validation: the JSON schema of a record, and the checks that its numbers are what the protocol
computes from its own stage scores. A leaderboard record must come from a run, never from an editor: a
summary that its stages do not reproduce is refused."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from bench.api.evaluation import Statistic, unpack
from bench.api.metrics import summarize
from bench.api.record import SCHEMA_VERSION, Record, read_record_json
from bench.core.errors import BenchError

NUMBER_OR_NULL = {"type": ["number", "null"]}
STAGE = {
    "type": "object",
    "required": ["stage", "step", "epoch", "scores", "seconds"],
    "properties": {
        "stage": {"enum": ["base", "unlearned", "relearn"]},
        "step": {"type": "integer", "minimum": 0},
        "epoch": {"type": "number", "minimum": 0},
        "scores": {"type": "object", "minProperties": 1, "additionalProperties": NUMBER_OR_NULL},
        "seconds": {"type": "number", "minimum": 0},
        "intervals": {"type": "object", "additionalProperties": {
            "oneOf": [{"type": "null"}, {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}]}},
        "sizes": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "support": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
    },
}
RECORD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "relearn-bench run record",
    "type": "object",
    "required": ["schema_version", "run_id", "created", "config", "method", "task", "model", "metrics", "mask",
                 "stages", "summary", "provenance"],
    "properties": {
        "schema_version": {"type": "integer", "minimum": 1, "maximum": SCHEMA_VERSION},
        "run_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "created": {"type": "string", "format": "date-time"},
        "config": {"type": "object", "required": ["method", "task", "seed", "model", "concept", "fraction", "k",
                                                  "unit_space", "mask_mode", "method_options", "task_options"]},
        "method": {"type": "object", "required": ["name", "version", "origin"]},
        "task": {"type": "object", "required": ["name", "version", "origin", "concept", "data_fingerprint"]},
        "model": {"type": "object", "required": ["ref", "source", "fingerprint"]},
        "metrics": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name", "role", "higher_is_better"],
            "properties": {"role": {"enum": ["target", "retain", "info"]}}}},
        "mask": {"type": "object", "required": ["hash", "space", "mode", "k", "total", "per_layer"],
                 "properties": {"k": {"type": "integer", "minimum": 0}, "total": {"type": "integer", "minimum": 1},
                                "k_requested": {"type": "integer", "minimum": 0},
                                "k_pruned": {"type": "integer", "minimum": 0}},
                 # Records before k_requested / k_pruned existed pruned exactly k (they filled the rest).
                 "dependentRequired": {"k_pruned": ["k_requested"], "k_requested": ["k_pruned"]}},
        "stages": {"type": "array", "minItems": 3, "items": STAGE},
        "summary": {"type": "object", "required": ["target", "m_base", "m_unlearned", "forgetting", "collateral",
                                                   "recovery", "rt90", "aurc", "resistance"],
                    "properties": {"forgetting": NUMBER_OR_NULL, "collateral": NUMBER_OR_NULL, "aurc": NUMBER_OR_NULL,
                                   "resistance": NUMBER_OR_NULL, "rt90": {"type": ["integer", "null"]},
                                   "removed": NUMBER_OR_NULL, "forgetting_resolved": {"type": "boolean"},
                                   "rt90_status": {"enum": ["reached", "not reached", "undefined"]},
                                   "collateral_by_metric": {"type": "object", "additionalProperties": NUMBER_OR_NULL},
                                   "intervals": {"type": "object"}}},
        "provenance": {"type": "object", "required": ["versions", "device"]},
        "timings": {"type": "object"},
        "evaluation": {"type": "object"},
    },
}


class InvalidRecord(BenchError):
    """A record that is not what a run of this harness writes; the message says why."""


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def validate_data(data: Any, where: str) -> Record:
    """The record in `data`, or InvalidRecord naming the first problem and where it is."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(RECORD_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise InvalidRecord(f"{where}: fails the record schema at {at}: {error.message}")
    record = Record.from_dict(data, where=where)
    check_consistency(record, where)
    return record


def check_consistency(record: Record, where: str) -> None:
    """The summary must be the one the metric definitions give for the record's own stage scores."""
    cfg, s = record.config, record.summary
    if cfg["method"] != record.method["name"] or cfg["task"] != record.task["name"]:
        raise InvalidRecord(f"{where}: config names method {cfg['method']!r} / task {cfg['task']!r} but the record "
                            f"says {record.method['name']!r} / {record.task['name']!r}")
    specs = {m["name"]: m for m in record.metrics}
    targets = [m["name"] for m in record.metrics if m["role"] == "target"]
    if not targets or s["target"] != targets[0]:
        raise InvalidRecord(f"{where}: summary target {s['target']!r} is not the first target metric")
    for stage in record.stages:
        missing = sorted(set(specs) - set(stage.scores))
        if missing:
            raise InvalidRecord(f"{where}: stage {stage.stage}@{stage.step} lacks scores for {', '.join(missing)}")
    base, unlearned = record.stage("base"), record.stage("unlearned")
    if len(base) != 1 or len(unlearned) != 1 or not record.stage("relearn"):
        raise InvalidRecord(f"{where}: a record has one base stage, one unlearned stage and relearning stages")
    retain = {m["name"]: m.get("higher_is_better", True) for m in record.metrics if m["role"] == "retain"}
    expected = summarize(s["target"], retain, base[0].scores, unlearned[0].scores,
                         [(st.step, st.scores) for st in record.stage("relearn")],
                         forgetting_resolved=s.get("forgetting_resolved", True))
    # A migrated version-1 record keeps the figures of its own definitions; what still must hold is checked.
    names = (("m_base", "m_unlearned", "forgetting") if s.get("migrated_from") == 1 else
             ("m_base", "m_unlearned", "forgetting", "collateral", "removed", "relearned", "rt90", "aurc", "resistance"))
    for name in names:
        if not _close(s[name], getattr(expected, name)):
            raise InvalidRecord(f"{where}: summary {name} = {s[name]!r}, but its stage scores give "
                                f"{getattr(expected, name)!r} (records are written by runs, not by hand; a record of an older relearn-bench must be run again)")
    recovery = [list(p) for p in expected.recovery]
    if s.get("migrated_from") == 1:  # its values follow version 1 (no noise rule); its steps must still match
        if [p[0] for p in s["recovery"]] != [p[0] for p in recovery]:
            raise InvalidRecord(f"{where}: summary recovery curve does not match its relearning stages")
    elif len(s["recovery"]) != len(recovery) or not all(
            a[0] == b[0] and _close(a[1], b[1]) for a, b in zip(s["recovery"], recovery, strict=True)):
        raise InvalidRecord(f"{where}: summary recovery curve does not match its relearning stages")
    mask = record.mask
    if mask["k"] > mask["total"] or sum(mask["per_layer"]) != mask["k"]:
        raise InvalidRecord(f"{where}: mask k {mask['k']} does not match its per-layer counts")
    if "k_pruned" in mask and (mask["k_pruned"] != mask["k"] or mask["k_pruned"] > mask["k_requested"]):
        raise InvalidRecord(f"{where}: mask k_pruned {mask['k_pruned']} must equal k ({mask['k']}) and be at most "
                            f"k_requested ({mask['k_requested']})")


def validate_file(path: Path) -> Record:
    return validate_data(read_record_json(path, InvalidRecord), str(path))


def read_records(folder: Path) -> list[Record]:
    """Every record under `folder` (recursively), each validated; the first invalid one stops the build."""
    paths = sorted(Path(folder).rglob("*.json"))
    if not paths:
        raise BenchError(f"no records (*.json) under {folder}")
    return [with_support(validate_file(p), p.with_suffix(".npz")) for p in paths]


def with_support(record: Record, examples: Path) -> Record:
    """Records written before stages carried `support` get it from their own per-example columns (RUN_ID.npz
    beside an exported record): a pure function of what the run recorded, so pages can say what every
    metric was computed on. Records without their columns stay as they are."""
    if not examples.exists() or not record.evaluation.get("statistics") or all(s.support for s in record.stages):
        return record
    statistics = {m: Statistic.from_dict(s) for m, s in record.evaluation["statistics"].items()}
    with np.load(examples) as arrays:
        columns = dict(arrays)
    for number, stage in enumerate(record.stages):
        if not stage.support:
            stage.support = unpack(columns, f"stage{number}", statistics).metric_support()
    return record
