"""Writing records for a leaderboard pull request: every record is validated first (schema and
consistency), and a record that fails is refused with the reason, before anything is written."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from bench.api.record import Record, write_json_atomic
from bench.api.validate import validate_data
from bench.core.errors import BenchError
from bench.core.plugins import METHODS
from bench.core.registry import BUILT_IN
from bench.harness.store import run_folder
from bench.harness.sweep import SweepSpec

DEFAULT_RECORDS = Path("leaderboards") / "records"


def record_path(folder: Path, record: Record) -> Path:
    return folder / record.task.name / record.method.name / f"{record.run_id}.json"


def export_records(records: list[Record], folder: Path) -> list[Path]:
    """Validate all of `records`, then write each under folder/TASK/METHOD/RUN_ID.json (atomically), with its
    per-example evaluation columns beside it (RUN_ID.npz) where the run's folder has them: enough for anyone
    to recompute every interval."""
    for record in records:
        validate_data(record.to_dict(), f"run {record.run_id} ({record.method.name} on {record.task.name})")
    paths = []
    for record in records:
        path = record_path(folder, record)
        write_json_atomic(path, record.to_dict())
        examples = run_folder(record.run_id) / (record.evaluation.file if record.evaluation else "examples.npz")
        if record.evaluation and examples.exists():
            tmp = path.with_suffix(".npz.tmp")
            shutil.copyfile(examples, tmp)
            tmp.replace(path.with_suffix(".npz"))
        paths.append(path)
    return paths


def import_records(folder: Path, run_ids: list[str]) -> list[str]:
    """The inverse of `export_records` for the runs a sweep still needs: each of `run_ids` that has a record
    under `folder` (and none in the store) is validated, copied into the store with its per-example columns,
    and indexed. A sweep exporting to a committed folder thereby resumes on a fresh machine from the records
    committed so far, instead of running them again. Returns the ids it imported."""
    from bench.api.record import examples_file
    from bench.api.validate import validate_file
    from bench.harness.store import index

    wanted = set(run_ids)
    imported = []
    for path in sorted(Path(folder).rglob("*.json")) if Path(folder).is_dir() else []:
        if path.stem not in wanted or (run_folder(path.stem) / "record.json").exists():
            continue
        record = validate_file(path)
        target = run_folder(record.run_id)
        target.mkdir(parents=True, exist_ok=True)
        examples = examples_file(record, path)
        if record.evaluation and examples.exists():  # the columns first: a record is never without its intervals
            tmp = target / f".{record.evaluation.file}.tmp"
            shutil.copyfile(examples, tmp)
            tmp.replace(target / record.evaluation.file)
        write_json_atomic(target / "record.json", record.to_dict())
        index(record, target / "record.json")
        imported.append(record.run_id)
    return imported


def submission_sweep(pinned: SweepSpec, method: str, options: dict[str, str], *, allow_builtin: bool = False
                     ) -> SweepSpec:
    """The pinned leaderboard sweep for one plug-in method alone (its controls are the board's own), with the
    submitter's method options recorded in every run."""
    entry = METHODS.entry(method)
    if entry.origin == BUILT_IN and not allow_builtin:
        raise BenchError(f"{method!r} is built in; `bench submit` is for methods installed through a "
                         f"`bench.methods` entry point (maintainers: --allow-builtin)")
    settings = {**pinned.method_settings.get(method, {}), **({"method_options": dict(options)} if options else {})}
    return dataclasses.replace(pinned, methods=(method,), controls=False,
                               method_settings={method: settings} if settings else {})
