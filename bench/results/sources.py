"""Where a leaderboard or the gate reads its records from: a folder of record files, the recorded runs of a
sweep file (reading never runs anything: a missing run is an error naming the command that runs it), or the
whole run store."""

from __future__ import annotations

from pathlib import Path

from bench.api.record import Record, examples_file, with_support
from bench.api.validate import read_records, validate_file
from bench.core.errors import BenchError
from bench.harness.store import list_runs
from bench.harness.sweep import plan, read_sweep_file, run_sweep


def records_from(folder: Path | None = None, sweep_file: Path | None = None, *, has_gpu: bool = False) -> list[Record]:
    if folder is not None:
        return read_records(folder)
    if sweep_file is not None:
        outcomes = run_sweep(plan(read_sweep_file(sweep_file), has_gpu=has_gpu), run_missing=False)
        missing = [o for o in outcomes if o.status != "recorded"]
        if missing:
            first = missing[0].cfg
            raise BenchError(f"{len(missing)} of the {len(outcomes)} runs of {sweep_file} are not recorded (first: "
                             f"{first.method} on {first.task}, seed {first.seed}); run `bench sweep --config "
                             f"{sweep_file}` first")
        return [o.record for o in outcomes]
    records = []
    for row in list_runs():
        record = validate_file(Path(row.path))
        records.append(with_support(record, examples_file(record, Path(row.path))))
    return records
