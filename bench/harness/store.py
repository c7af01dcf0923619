"""The results store: an SQLite index over run records (the JSON records stay the source of truth)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from bench.api.record import Record, read_record
from bench.core.errors import BenchError
from bench.core.paths import bench_home, subdir

COLUMNS = (
    "run_id TEXT PRIMARY KEY, created TEXT, method TEXT, task TEXT, model TEXT, concept TEXT, seed INTEGER, "
    "unit_space TEXT, k INTEGER, forgetting REAL, collateral REAL, rt90 INTEGER, aurc REAL, path TEXT"
)


@dataclass(frozen=True)
class RunRow:
    run_id: str
    created: str
    method: str
    task: str
    model: str
    concept: str
    seed: int
    unit_space: str
    k: int
    forgetting: float | None
    collateral: float | None
    rt90: int | None
    aurc: float | None
    path: str


def runs_dir() -> Path:
    return subdir("runs")


def run_folder(run_id: str) -> Path:
    return runs_dir() / run_id


def _connect() -> sqlite3.Connection:
    db = sqlite3.connect(bench_home() / "results.sqlite")
    db.execute(f"CREATE TABLE IF NOT EXISTS runs ({COLUMNS})")
    return db


def index(record: Record, path: Path) -> None:
    s = record.summary
    row = (
        record.run_id, record.created, record.method["name"], record.task["name"], record.model["ref"],
        record.task["concept"], record.config["seed"], record.mask["space"], record.mask["k"],
        s.get("forgetting"), s.get("collateral"), s.get("rt90"), s.get("aurc"), str(path),
    )
    with closing(_connect()) as db, db:
        db.execute(f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * len(row))})", row)


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
