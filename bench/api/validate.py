"""Record validation: the JSON schema of a record, and the checks that its numbers are what the protocol
computes from its own stage scores. A leaderboard record must come from a run, never from an editor: a
summary that its stages do not reproduce is refused."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.api.metrics import summarize
from bench.api.record import (
    Record,
    examples_file,
    migrate,
    read_record_json,
    record_files,
    record_schema,
    with_support,
    with_verification,
)
from bench.core.errors import BenchError

# Generated from the record's dataclasses (bench.api.record), never written by hand.
RECORD_SCHEMA: dict[str, Any] = record_schema()


class InvalidRecord(BenchError):
    """A record that is not what a run of this harness writes; the message says why."""


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def validate_data(data: Any, where: str) -> Record:
    """The record in `data` (migrated to the current schema), or InvalidRecord naming the first problem and
    where it is."""
    import jsonschema

    try:
        data = migrate(data, where)
    except BenchError as exc:
        raise InvalidRecord(str(exc)) from None
    validator = jsonschema.Draft202012Validator(RECORD_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise InvalidRecord(f"{where}: fails the record schema at {at}: {error.message}")
    try:
        record = Record.from_dict(data, where=where)
    except BenchError as exc:
        raise InvalidRecord(str(exc)) from None
    check_consistency(record, where)
    return record


def check_consistency(record: Record, where: str) -> None:
    """The summary must be the one the metric definitions give for the record's own stage scores."""
    cfg, s = record.config, record.summary
    if cfg["method"] != record.method.name or cfg["task"] != record.task.name:
        raise InvalidRecord(f"{where}: config names method {cfg['method']!r} / task {cfg['task']!r} but the record "
                            f"says {record.method.name!r} / {record.task.name!r}")
    specs = {m.name: m for m in record.metrics}
    targets = record.metric_names("target")
    if not targets or s.target != targets[0]:
        raise InvalidRecord(f"{where}: summary target {s.target!r} is not the first target metric")
    for stage in record.stages:
        missing = sorted(set(specs) - set(stage.scores))
        if missing:
            raise InvalidRecord(f"{where}: stage {stage.stage}@{stage.step} lacks scores for {', '.join(missing)}")
    base, unlearned = record.stage("base"), record.stage("unlearned")
    if len(base) != 1 or len(unlearned) != 1 or not record.stage("relearn"):
        raise InvalidRecord(f"{where}: a record has one base stage, one unlearned stage and relearning stages")
    retain = {m.name: m.higher_is_better for m in record.metrics if m.role == "retain"}
    expected = summarize(s.target, retain, base[0].scores, unlearned[0].scores,
                         [(st.step, st.scores) for st in record.stage("relearn")],
                         forgetting_resolved=s.forgetting_resolved)
    # A migrated version-1 record keeps the figures of its own definitions; what still must hold is checked.
    names = (("m_base", "m_unlearned", "forgetting") if s.migrated_from == 1 else
             ("m_base", "m_unlearned", "forgetting", "collateral", "removed", "relearned", "rt90", "aurc", "resistance"))
    for name in names:
        if not _close(getattr(s, name), getattr(expected, name)):
            raise InvalidRecord(f"{where}: summary {name} = {getattr(s, name)!r}, but its stage scores give "
                                f"{getattr(expected, name)!r} (records are written by runs, not by hand; a record of an older relearn-bench must be run again)")
    recovery = [list(p) for p in expected.recovery]
    if s.migrated_from == 1:  # its values follow version 1 (no noise rule); its steps must still match
        if [p[0] for p in s.recovery] != [p[0] for p in recovery]:
            raise InvalidRecord(f"{where}: summary recovery curve does not match its relearning stages")
    elif len(s.recovery) != len(recovery) or not all(
            a[0] == b[0] and _close(a[1], b[1]) for a, b in zip(s.recovery, recovery, strict=True)):
        raise InvalidRecord(f"{where}: summary recovery curve does not match its relearning stages")
    u, mask = record.unlearning, record.mask
    if (mask is not None and mask.k > 0) != (u.kind in ("mask", "both")):
        raise InvalidRecord(f"{where}: unlearning kind {u.kind!r} does not match its mask "
                            f"({'none' if mask is None else f'{mask.k} units'})")
    if mask is None:
        return
    if mask.k > mask.total or sum(mask.per_layer) != mask.k:
        raise InvalidRecord(f"{where}: mask k {mask.k} does not match its per-layer counts")
    if mask.k_pruned is not None and (mask.k_pruned != mask.k or mask.k_pruned > mask.k_requested):
        raise InvalidRecord(f"{where}: mask k_pruned {mask.k_pruned} must equal k ({mask.k}) and be at most "
                            f"k_requested ({mask.k_requested})")


def validate_file(path: Path) -> Record:
    return validate_data(read_record_json(path, InvalidRecord), str(path))


def read_records(folder: Path) -> list[Record]:
    """Every record under `folder` (recursively), each validated and with its support filled in from its
    per-example columns; the first invalid one stops the build."""
    paths = record_files(folder)
    if not paths:
        raise BenchError(f"no records (*.json) under {folder}")
    records = []
    for path in paths:
        record = validate_file(path)
        records.append(with_verification(with_support(record, examples_file(record, path)), path))
    return records
