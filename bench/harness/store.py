"""The results store: an SQLite index over run records (the JSON records stay the source of truth)."""

from __future__ import annotations

import dataclasses
import sqlite3
import typing
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from bench.api.record import Record, read_record
from bench.core.errors import BenchError
from bench.core.paths import bench_home, subdir
from bench.harness.config import RunConfig


@dataclass(frozen=True)
class RunRow:
    """One row of the index: what `bench runs` lists of a record. The table's columns are generated from these
    fields (the first is the key)."""

    run_id: str
    created: str
    method: str
    task: str
    model: str
    concept: str
    seed: int
    unit_space: str
    k: int | None  # units pruned (None: a weight-editing method, no mask)
    forgetting: float | None
    collateral: float | None
    rt90: int | None
    aurc: float | None
    path: str

    @classmethod
    def of(cls, record: Record, path: Path) -> RunRow:
        s = record.summary
        return cls(record.run_id, record.created, record.method.name, record.task.name, record.model.ref,
                   record.task.concept, record.config["seed"], record.config["unit_space"],
                   record.mask.k if record.mask is not None else None, s.forgetting,
                   s.collateral, s.rt90, s.aurc, str(path))


_SQL_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL"}


def _sql_columns(row: type) -> str:
    hints = typing.get_type_hints(row)
    columns = []
    for number, f in enumerate(dataclasses.fields(row)):
        kind = next(t for t in (hints[f.name], *typing.get_args(hints[f.name])) if t in _SQL_TYPES)
        columns.append(f"{f.name} {_SQL_TYPES[kind]}" + (" PRIMARY KEY" if number == 0 else ""))
    return ", ".join(columns)


COLUMNS = _sql_columns(RunRow)


# In a run folder: its record was imported from an export folder, made on another machine (its timings are
# not this machine's, and its caches are not here).
IMPORTED_MARK = "imported-from"


def runs_dir() -> Path:
    return subdir("runs")


def run_folder(run_id: str) -> Path:
    return runs_dir() / run_id


def _connect() -> sqlite3.Connection:
    # Several runs on one machine (two sweeps, local workers) share one index: WAL lets readers go on while one
    # writes, and a writer waits up to 30 s for another's transaction instead of failing with "database is
    # locked". WAL needs one machine's shared memory: on a cluster only the sweep's driver writes the index
    # (its workers run with BENCH_INDEX=0).
    db = sqlite3.connect(bench_home() / "results.sqlite", timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"CREATE TABLE IF NOT EXISTS runs ({COLUMNS})")
    return db


def index(record: Record, path: Path) -> None:
    row = dataclasses.astuple(RunRow.of(record, path))
    with closing(_connect()) as db, db:
        db.execute(f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * len(row))})", row)


def reindex() -> int:
    """Rebuild the index from the run folders (the records are the truth; the index is derived from them).
    Returns how many runs it holds; a folder without a readable record is left out and named."""
    rows, unreadable = [], []
    for path in sorted(runs_dir().glob("*/record.json")):
        try:
            rows.append(dataclasses.astuple(RunRow.of(read_record(path), path)))
        except BenchError as exc:
            unreadable.append(f"{path.parent.name} ({exc})")
    with closing(_connect()) as db, db:
        db.execute("DELETE FROM runs")
        db.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * len(dataclasses.fields(RunRow)))})", rows)
    if unreadable:
        from bench.core.progress import console

        console.print(f"[yellow]left out of the index:[/] {'; '.join(unreadable)}")
    return len(rows)


def list_runs() -> list[RunRow]:
    with closing(_connect()) as db:
        rows = db.execute("SELECT * FROM runs ORDER BY created").fetchall()
    return [RunRow(*row) for row in rows]


def find(run_ref: str) -> Record:
    """A record by run id, unique id prefix, or path to a record.json."""
    path = Path(run_ref)
    if path.suffix == ".json" and path.exists():
        return read_record(path)
    with closing(_connect()) as db:
        rows = db.execute("SELECT run_id, path FROM runs WHERE run_id LIKE ?", (run_ref + "%",)).fetchall()
    if not rows:
        raise BenchError(f"no run {run_ref!r} in the store ({bench_home() / 'results.sqlite'}); `bench runs` lists them")
    if len(rows) > 1:
        raise BenchError(f"run prefix {run_ref!r} is ambiguous: {', '.join(r[0] for r in rows)}")
    return read_record(Path(rows[0][1]))


def existing_record(run_id: str, cfg: RunConfig) -> Record | None:
    """The stored record of exactly this run, or None: what a run, a plan and a sweep skip work for."""
    path = run_folder(run_id) / "record.json"
    if not path.exists():
        return None
    record = read_record(path)
    # The id is a hash of the config, but check anyway: a record is reused only for exactly this run.
    return record if record.run_id == run_id and record.config == cfg.to_dict() else None
