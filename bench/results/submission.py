"""Writing records for a leaderboard pull request: every record is validated first (schema and
consistency), and a record that fails is refused with the reason, before anything is written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.api.record import Record
from bench.api.validate import validate_data
from bench.core.errors import BenchError
from bench.core.files import copy_atomic, write_json_atomic
from bench.core.plugins import METHODS
from bench.core.registry import BUILT_IN
from bench.harness.store import IMPORTED_MARK, run_folder
from bench.harness.sweep import SweepSpec

DEFAULT_RECORDS = Path("leaderboards") / "records"


def record_path(folder: Path, record: Record) -> Path:
    return folder / record.task.name / record.method.name / f"{record.run_id}.json"


def export_records(records: list[Record], folder: Path) -> list[Path]:
    """Validate all of `records`, then write each under folder/TASK/METHOD/RUN_ID.json (atomically), with its
    per-example evaluation columns beside it (RUN_ID.npz) where the run's folder has them: enough for anyone
    to recompute every interval. The columns are written before the record, so a record under `folder` is
    never without them (`import_records` relies on it)."""
    for record in records:
        validate_data(record.to_dict(), f"run {record.run_id} ({record.method.name} on {record.task.name})")
    paths = []
    for record in records:
        path = record_path(folder, record)
        # Where the record was read from, else its run's folder in this machine's store.
        examples = record.examples or run_folder(record.run_id) / (
            record.evaluation.file if record.evaluation else "examples.npz")
        if record.evaluation and examples.exists():
            copy_atomic(examples, path.with_suffix(".npz"))
        write_json_atomic(path, record.to_dict())
        paths.append(path)
    return paths


def importable(folder: Path, planned: dict[str, dict]) -> tuple[list[tuple[Path, Record]], list[str]]:
    """The records under `folder` that `import_records` would take for `planned` (run id -> its config dict),
    and why each other candidate would not be taken; it writes nothing."""
    from bench.api.validate import validate_file

    taken, skipped = [], []
    for path in sorted(Path(folder).rglob("*.json")) if Path(folder).is_dir() else []:
        if path.stem not in planned or (run_folder(path.stem) / "record.json").exists():
            continue
        try:
            record = validate_file(path)
        except BenchError as exc:
            skipped.append(f"{path}: {exc}")
            continue
        if record.run_id != path.stem or record.config != planned[path.stem]:
            skipped.append(f"{path}: not the planned run (its id or config differs)")
        elif record.evaluation is not None and not path.with_suffix(".npz").exists():
            skipped.append(f"{path}: its per-example columns ({path.with_suffix('.npz').name}) are missing")
        else:
            taken.append((path, record))
    return taken, skipped


def import_records(folder: Path, planned: dict[str, dict]) -> tuple[list[str], list[str]]:
    """The inverse of `export_records` for the runs a sweep still needs (`planned`: run id -> its config
    dict). A record under `folder` with one of those ids, exactly that config, and its per-example columns is
    copied into the store (marked as imported: its timings are another machine's) and indexed, so a sweep
    exporting to a committed folder resumes on a fresh machine from the records committed so far. Returns
    (imported ids, why each other candidate was not imported): an invalid record, one of another config or
    one without its columns is run again instead."""
    from bench.harness.store import index

    taken, skipped = importable(folder, planned)
    for path, record in taken:
        target = run_folder(record.run_id)
        if record.evaluation is not None:
            copy_atomic(path.with_suffix(".npz"), target / record.evaluation.file)
        write_json_atomic(target / IMPORTED_MARK, {"from": str(path)})
        write_json_atomic(target / "record.json", record.to_dict())
        index(record, target / "record.json")
    return [record.run_id for _, record in taken], skipped


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
