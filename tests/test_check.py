"""The CI regression gate: `bench check` passes on its baseline and fails, naming the figure and the drop,
on an injected regression; the tolerance comes from the seed spread."""

import json

import pytest

from bench.check import compare, tolerance
from bench.cli import main
from bench.leaderboard import build_boards, leaderboard_json
from bench.submission import export_records
from tests.made_records import made_sweep

RESISTANT = [(0.2, 0.2, 0.3, 0.4), (0.2, 0.25, 0.3, 0.35), (0.2, 0.2, 0.35, 0.4)]
NOISIER = [(0.2, 0.25, 0.3, 0.45), (0.2, 0.2, 0.3, 0.35), (0.2, 0.2, 0.35, 0.4)]  # within the seed spread
BROKEN = [(0.2, 0.7, 0.8, 0.8), (0.2, 0.6, 0.8, 0.8), (0.2, 0.7, 0.75, 0.8)]  # relearns at once
CONTROLS = {"random": [(0.2, 0.7, 0.8, 0.8)] * 3, "none": [(0.8, 0.8, 0.85, 0.9)] * 3}


def write(records, folder):
    export_records(records, folder)
    return folder


@pytest.fixture
def baseline(tmp_path):
    records = write(made_sweep({**CONTROLS, "concept-neurons": RESISTANT}), tmp_path / "baseline-records")
    path = tmp_path / "baseline.json"
    assert main(["check", "--records", str(records), "--write-baseline", str(path)]) == 0
    return path


def test_check_passes_on_its_baseline_and_on_changes_within_the_seed_spread(baseline, tmp_path, capsys):
    same = tmp_path / "baseline-records"
    assert main(["check", "--baseline", str(baseline), "--records", str(same)]) == 0
    assert "no regression" in capsys.readouterr().out
    noisy = write(made_sweep({**CONTROLS, "concept-neurons": NOISIER}), tmp_path / "noisy")
    assert main(["check", "--baseline", str(baseline), "--records", str(noisy)]) == 0


def test_check_fails_on_an_injected_regression_and_says_which_figure_fell_and_by_how_much(baseline, tmp_path, capsys):
    broken = write(made_sweep({**CONTROLS, "concept-neurons": BROKEN}), tmp_path / "broken")
    assert main(["check", "--baseline", str(baseline), "--records", str(broken)]) == 1
    err = capsys.readouterr().err
    before = json.loads(baseline.read_text())
    entry = next(e for b in before["boards"] for e in b["entries"] if e["method"] == "concept-neurons")
    now = next(e for b in build_boards(made_sweep({**CONTROLS, "concept-neurons": BROKEN})) for e in b.entries
               if e.method == "concept-neurons")
    drop = entry["stats"]["resistance"]["mean"] - now.stats["resistance"].mean
    assert drop > 0.3
    assert f"regression {entry['id']}: resistance fell by {drop:.3f}" in err
    assert "forgetting" not in err  # forgetting did not change: only the figure that fell is named


def test_a_missing_entry_fails_and_the_tolerance_grows_with_the_seed_spread(baseline, tmp_path):
    only_controls = write(made_sweep(CONTROLS), tmp_path / "controls")
    boards = build_boards(made_sweep(CONTROLS))
    results = compare({e["id"]: e for b in json.loads(baseline.read_text())["boards"] for e in b["entries"]}, boards)
    assert [r.problem for r in results if r.problem] == ["entry missing: no records of this configuration"]
    assert main(["check", "--baseline", str(baseline), "--records", str(only_controls)]) == 1
    tight = tolerance({"n": 3, "sd": 0.01}, {"n": 3, "sd": 0.01}, floor=0.0)
    wide = tolerance({"n": 3, "sd": 0.1}, {"n": 3, "sd": 0.1}, floor=0.0)
    assert wide == pytest.approx(10 * tight) and tight > 0
    assert tolerance({"n": 3, "sd": 0.0}, {"n": 3, "sd": 0.0}, floor=0.02) == 0.02


def test_check_refuses_unusable_input(tmp_path, capsys):
    assert main(["check", "--baseline", str(tmp_path / "nope.json"), "--records", str(tmp_path)]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"boards": []}))
    write(made_sweep(CONTROLS), tmp_path / "r")
    assert main(["check", "--baseline", str(bad), "--records", str(tmp_path / "r")]) == 2
    assert "not a leaderboard.json" in capsys.readouterr().err
    assert main(["check", "--baseline", str(bad)]) == 2
    assert leaderboard_json(build_boards(made_sweep(CONTROLS)))["schema"] == 1
