"""Records: atomic writes, round trips, and refusing what this version cannot read."""

import json

import pytest

from bench.api.record import (
    SCHEMA_VERSION,
    Record,
    StageScores,
    read_record,
    write_record,
)
from bench.core.errors import BenchError


def make_record(**changes):
    fields = dict(
        schema_version=SCHEMA_VERSION, run_id="abc", created="2026-01-01T00:00:00+00:00", config={"seed": 0},
        method={"name": "random", "version": 1}, task={"name": "ner", "concept": "LOC"}, model={"ref": "m"},
        metrics=[{"name": "f1/LOC", "role": "target", "higher_is_better": True}], mask={"k": 1, "space": "mlp"},
        stages=[StageScores("base", 0, 0.0, {"f1/LOC": 0.5}, 1.0)], summary={"forgetting": None}, provenance={},
    )
    fields.update(changes)
    return Record(**fields)


def test_round_trip(tmp_path):
    record = make_record()
    write_record(record, tmp_path / "r.json")
    assert read_record(tmp_path / "r.json") == record
    assert list(json.loads((tmp_path / "r.json").read_text()))[0] == "schema_version"


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "records" / "r.json"
    write_record(make_record(run_id="first"), path)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", fail)  # fails after the temporary file exists, before the rename
    with pytest.raises(OSError):
        write_record(make_record(run_id="second"), path)
    assert read_record(path).run_id == "first"  # the old record is intact
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_newer_schema_is_refused_and_garbage_is_explained(tmp_path):
    path = tmp_path / "r.json"
    data = make_record().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(BenchError, match="newer than this relearn-bench reads"):
        read_record(path)
    path.write_text("{not json")
    with pytest.raises(BenchError, match=r"r.json:1: not valid JSON"):
        read_record(path)
