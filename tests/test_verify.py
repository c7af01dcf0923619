"""`bench verify` runs a record's configuration again from scratch: a run that reproduces agrees figure by figure
(bit for bit on the same machine) and the board marks it; a record whose figures the run does not give is not
verified; a record that cannot be run again as it was is a clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.cli import main
from bench.results.verify import Figure


def copied(exported: Path, tmp_path: Path, method: str = "concept-neurons", seed: int = 0) -> Path:
    """One exported record (and its columns) of the tiny sweep, in a folder of its own."""
    for path in sorted(exported.rglob("*.json")):
        record = json.loads(path.read_text())
        if record["method"]["name"] == method and record["config"]["seed"] == seed:
            folder = tmp_path / "records"
            folder.mkdir()
            shutil.copy(path, folder / path.name)
            shutil.copy(path.with_suffix(".npz"), folder / path.with_suffix(".npz").name)
            return folder / path.name
    raise AssertionError(f"no {method} record at seed {seed}")


def test_a_record_that_reproduces_is_verified_and_the_board_marks_it(tiny_sweep, tmp_path, capsys):
    _, exported, _ = tiny_sweep
    path = copied(exported, tmp_path)
    # The autouse fixture gives this test an empty BENCH_HOME: the run prepares its model again as well.
    assert main(["verify", str(path)]) == 0
    report = json.loads(path.with_name(path.stem + ".verification.json").read_text())
    assert report["agrees"] and report["bit_identical"] is True and report["disagreeing"] == []
    assert {"unlearned f1/geo-loc", "forgetting", "recovery@20"} <= {f["name"] for f in report["figures"]}
    assert "bit-identical" in capsys.readouterr().out
    # The verification report is not read as a record; the board marks the record.
    for other in exported.rglob("*.json"):
        if other.name != path.name:
            target = tmp_path / "records" / other.relative_to(exported)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(other, target)
            shutil.copy(other.with_suffix(".npz"), target.with_suffix(".npz"))
    assert main(["leaderboard", "build", "--records", str(tmp_path / "records"), "--out", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "ner-geo-loc.md").read_text()
    assert f"{path.stem[:8]}✓" in page and "`bench verify` ran 1 of the board's records again" in page
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())["boards"][0]
    assert [e["verified"] for e in board["entries"] if "verified" in e] == [{path.stem: True}]


def test_a_record_whose_figures_the_run_does_not_give_is_not_verified(tiny_sweep, tmp_path, capsys):
    _, exported, _ = tiny_sweep
    path = copied(exported, tmp_path)
    record = json.loads(path.read_text())
    record["summary"]["forgetting"] = 0.999
    record["summary"]["intervals"]["forgetting"] = [0.998, 1.0]
    path.write_text(json.dumps(record))
    assert main(["verify", str(path)]) == 1
    report = json.loads(path.with_name(path.stem + ".verification.json").read_text())
    assert not report["agrees"] and report["disagreeing"] == ["forgetting"]
    assert "not verified" in capsys.readouterr().out


def test_a_record_that_cannot_be_run_again_as_it_was_is_a_clear_error(tiny_sweep, tmp_path, capsys):
    _, exported, _ = tiny_sweep
    path = copied(exported, tmp_path)
    record = json.loads(path.read_text())
    record["run_id"] = "0" * 16  # as if a version bump had given its configuration another id
    path.write_text(json.dumps(record))
    assert main(["verify", str(path)]) == 2
    assert f"run {'0' * 16} cannot be run again as it was" in capsys.readouterr().err
    assert not path.with_name(path.stem + ".verification.json").exists()


def test_a_figure_agrees_within_its_interval_and_without_one_only_when_equal():
    assert Figure("forgetting", 0.30, (0.25, 0.35), 0.34).agrees
    assert not Figure("forgetting", 0.30, (0.25, 0.35), 0.36).agrees
    assert Figure("forgetting", 0.30, (0.25, 0.35), 0.350004).agrees  # written rounded to 6 decimals
    assert Figure("rt90", 4.0, None, 4.0).agrees and not Figure("rt90", 4.0, None, 8.0).agrees
    assert Figure("removed", None, None, None).agrees and not Figure("removed", 0.1, None, None).agrees
