"""Records: one typed shape (its JSON, reader and schema follow from the dataclasses), atomic writes, round
trips, migration of older versions and refusing what this version cannot read."""

import dataclasses
import json
from pathlib import Path

import pytest

from bench.api.record import (
    SCHEMA_VERSION,
    Record,
    read_record,
    record_files,
    record_schema,
    write_record,
)
from bench.core.errors import BenchError
from bench.harness.store import COLUMNS
from tests.made_records import made_record

# Every committed record (the verification reports beside some of them are not records).
COMMITTED = [p for p in record_files(Path(__file__).resolve().parents[1] / "leaderboards") if "records" in p.parts]


def make_record(**changes):
    return dataclasses.replace(made_record("random", 0), **changes)


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


def test_the_schema_is_generated_from_the_dataclasses():
    schema = record_schema()
    # Transient fields (`examples`: where the record was read from; `verified`: what a report beside it found) are
    # not part of it: not in the JSON, not in the schema.
    stored = [f.name for f in dataclasses.fields(Record) if not f.metadata.get("transient")]
    assert list(schema["properties"]) == stored
    assert schema["required"] == [name for name in stored if name not in ("timings", "evaluation")]
    assert schema["properties"]["stages"]["items"]["properties"]["stage"] == {"enum": ["base", "unlearned", "relearn"]}
    mask = schema["properties"]["unlearning"]["properties"]["mask"]["anyOf"][0]
    assert mask["dependentRequired"] == {"k_pruned": ["k_requested"], "k_requested": ["k_pruned"]}
    # The store's columns too; an index written by an older relearn-bench has exactly these.
    assert COLUMNS == ("run_id TEXT PRIMARY KEY, created TEXT, method TEXT, task TEXT, model TEXT, concept TEXT, "
                       "seed INTEGER, unit_space TEXT, k INTEGER, forgetting REAL, collateral REAL, rt90 INTEGER, "
                       "aurc REAL, path TEXT")


def test_json_keeps_the_field_order_and_leaves_out_what_a_run_did_not_write():
    record = make_record(method=dataclasses.replace(made_record("random", 0).method, label=None), evaluation=None)
    data = record.to_dict()
    assert list(data) == [f.name for f in dataclasses.fields(Record)
                          if f.name != "evaluation" and not f.metadata.get("transient")]
    assert list(data["method"]) == ["name", "version", "origin", "info"]  # no label: none was given
    assert list(data["model"]["preparation"]) == ["finetuned"]


def test_an_unknown_or_mistyped_field_is_named():
    data = make_record().to_dict()
    data["summary"]["forgettting"] = 0.5
    with pytest.raises(BenchError, match=r"r\.summary: unknown field forgettting"):
        Record.from_dict(data, "r")
    data = make_record().to_dict()
    data["unlearning"]["mask"]["k"] = "ten"
    with pytest.raises(BenchError, match=r"r\.unlearning\.mask\.k: expected integer, got 'ten'"):
        Record.from_dict(data, "r")


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_every_committed_record_reads_and_a_current_one_writes_back_its_own_json(path):
    data = json.loads(path.read_text())
    record = Record.from_dict(data, str(path))
    assert record.schema_version == SCHEMA_VERSION
    if data["schema_version"] == 1:
        assert record.summary.migrated_from == 1 and record.summary.intervals == {} and record.evaluation is None
    elif data["schema_version"] == SCHEMA_VERSION:  # written by the current schema: reads back exactly
        assert record.to_dict() == data
    else:  # stages written before `support` existed get an empty one (filled from the examples when read)
        expected = {**data, "schema_version": SCHEMA_VERSION,
                    "stages": [{**s, "support": s.get("support", {})} for s in data["stages"]]}
        if data["schema_version"] < 4:  # version 4 moved the mask into the unlearning section: every such run pruned
            mask = expected.pop("mask")  # (or was `none`)
            budget = {"units": mask["k_requested"], **({"fraction": data["config"]["fraction"]}
                                                        if data["config"]["fraction"] is not None else {})}
            expected["unlearning"] = {"kind": "mask" if mask["k"] else "none", "budget": budget, "mask": mask}
        # Version 5 made the attack a plug-in: every earlier run is `finetune` version 1, its relearn_* settings kept.
        expected["config"] = {**data["config"], "attack": "finetune", "attack_options": {}}
        # Its stages count optimizer steps; the attacker's bound was not checked then (no bounds, damage or verdict).
        expected["attack"] = {"name": "finetune", "version": 1, "origin": "built-in", "info": {}, "unit": "steps"}
        assert record.to_dict() == expected
        assert record.attack.name == "finetune" and record.config["relearn_steps"] == data["config"]["relearn_steps"]
        if data["schema_version"] < 4:
            mask = expected["unlearning"]["mask"]
            assert record.mask.k == mask["k"] and record.unlearning.kind == ("none" if data["method"]["name"] == "none" else "mask")
