"""Record validation: a run's record passes; a record typed or edited by hand is refused with the reason."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bench.api.evaluation import Statistic
from bench.api.record import SCHEMA_VERSION, Bootstrap, EvaluationInfo, record_files
from bench.api.validate import InvalidRecord, read_records, validate_data, validate_file
from bench.cli import main
from bench.results.submission import export_records
from tests.made_records import made_record


def test_a_record_summarised_by_the_metric_definitions_is_valid():
    record = made_record("concept-neurons", 0)
    assert validate_data(record.to_dict(), "r") == record


@pytest.mark.parametrize("edit, reason", [
    (lambda d: d["summary"].update(aurc=0.01), "summary aurc = 0.01, but its stage scores give"),
    (lambda d: d["summary"].update(forgetting=1.0), "summary forgetting = 1.0"),
    (lambda d: d["stages"][3]["scores"].update({"f1/geo-loc": 0.9}), "summary"),
    (lambda d: d.pop("provenance"), "fails the record schema at (top level): 'provenance' is a required property"),
    (lambda d: d.update(run_id="not-an-id"), "fails the record schema at run_id"),
    (lambda d: d["stages"][0].update(stage="before"), "fails the record schema at stages/0/stage"),
    (lambda d: d["method"].update(name="other"), "config names method 'concept-neurons'"),
    (lambda d: d["stages"][2]["scores"].pop("f1/person"), "lacks scores for f1/person"),
    (lambda d: d["unlearning"]["mask"].update(k_requested=5),
     "mask k_pruned 10 must equal k (10) and be at most k_requested (5)"),
    (lambda d: d["unlearning"]["mask"].pop("k_requested"),
     "fails the record schema at unlearning/mask: 'k_requested' is a dependency of"),
    (lambda d: d["unlearning"].update(kind="weights"), "unlearning kind 'weights' does not match its mask (10 units)"),
])
def test_an_edited_record_is_refused_with_the_reason(edit, reason):
    data = made_record("concept-neurons", 0).to_dict()
    edit(data)
    with pytest.raises(InvalidRecord, match="^r: .*" + reason.replace("(", r"\(").replace(")", r"\)")):
        validate_data(data, "r")


def test_export_writes_nothing_when_any_record_is_invalid(tmp_path):
    good, bad = made_record("random", 0), made_record("random", 1)
    bad = dataclasses.replace(bad, summary=dataclasses.replace(bad.summary, aurc=0.0))
    with pytest.raises(InvalidRecord, match="run .* \\(random on ner\\): summary aurc"):
        export_records([good, bad], tmp_path / "records")
    assert not (tmp_path / "records").exists()
    (path,) = export_records([good], tmp_path / "records")
    assert path == tmp_path / "records" / "ner" / "random" / f"{good.run_id}.json"
    assert validate_file(path) == good


def test_a_hand_edited_file_stops_the_leaderboard_build_naming_the_file(tmp_path, capsys):
    (path,) = export_records([made_record("random", 0)], tmp_path)
    data = json.loads(path.read_text())
    data["summary"]["forgetting"] = 0.99
    path.write_text(json.dumps(data))
    assert main(["leaderboard", "build", "--records", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert f"{path}: summary forgetting = 0.99" in capsys.readouterr().err


def test_records_exported_before_support_existed_get_it_from_their_own_columns(tmp_path):
    # Two sentences with 3 gold geo-loc entities: F1/geo-loc is computed on 3 entities of 2 resampled rows.
    record = made_record("none", 0)
    for stage in record.stages:  # written before stages carried support
        stage.support, stage.sizes = {}, {}
    statistic = Statistic("sentences", "f1", ("tp", "pred", "gold"))
    record.evaluation = EvaluationInfo("examples.npz", {"sentences": 2}, {"f1/geo-loc": statistic},
                                       Bootstrap(1000, 0, 0.95, "the same resampled examples at every stage"))
    (tmp_path / f"{record.run_id}.json").write_text(json.dumps(record.to_dict()))
    np.savez(tmp_path / f"{record.run_id}.npz", **{f"stage{i}/sentences/{c}": np.array(v, dtype=float)
                                                   for i in range(len(record.stages))
                                                   for c, v in {"tp": [1, 0], "pred": [1, 1], "gold": [1, 2]}.items()})
    [read] = read_records(tmp_path)
    assert [s.support for s in read.stages] == [{"f1/geo-loc": 3}] * len(record.stages)
    assert [s.sizes for s in read.stages] == [{}] * len(record.stages)  # what was recorded is left as it was


LEADERBOARDS = Path(__file__).resolve().parents[1] / "leaderboards"


def test_every_committed_record_validates_through_the_migration():
    # The withdrawn first board and the evidence runs are schema 1, the NER rebuild schema 2 and the causal
    # rebuild and the NER v4 runs schema 4 (before attacks were plug-ins), the attacks' evidence schema 5: each
    # reads through the migration, its own figures stand, and what must still hold (scores, targets, recovery
    # steps, masks) is checked.
    paths = [p for p in record_files(LEADERBOARDS) if "records" in p.parts]  # verification reports are not records
    versions = {json.loads(p.read_text())["schema_version"] for p in paths}
    assert len(paths) > 100 and versions == {1, 2, 4, 5} and SCHEMA_VERSION == 5
    for path in paths:
        validate_file(path)


def test_a_migrated_record_whose_recovery_steps_do_not_match_its_stages_is_refused():
    path = next(p for p in sorted(LEADERBOARDS.rglob("*.json"))
                if "records" in p.parts and json.loads(p.read_text())["schema_version"] == 1)
    data = json.loads(path.read_text())
    data["summary"]["recovery"] = data["summary"]["recovery"][:-1]
    with pytest.raises(InvalidRecord, match="recovery curve does not match"):
        validate_data(data, "edited")
