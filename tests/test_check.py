"""The CI regression gate: `bench check` passes on its baseline and fails, naming the figure and the change,
on injected regressions in either direction (relearning disabled, a mask leaking into a control, collateral
multiplied); the tolerance comes from the seed spread and the evaluation error."""

import json

import pytest

from bench.cli import main
from bench.results.gate import compare, tolerance
from bench.results.leaderboard import build_boards, leaderboard_json
from bench.results.submission import export_records
from tests.made_records import made_record

RESISTANT = [(0.2, 0.2, 0.3, 0.4), (0.2, 0.25, 0.3, 0.35), (0.2, 0.2, 0.35, 0.4)]
NOISIER = [(0.2, 0.25, 0.3, 0.45), (0.2, 0.2, 0.3, 0.35), (0.2, 0.2, 0.35, 0.4)]  # within the seed spread
BROKEN = [(0.2, 0.7, 0.8, 0.8), (0.2, 0.6, 0.8, 0.8), (0.2, 0.7, 0.75, 0.8)]  # relearns at once
RANDOM = [(0.76, 0.78, 0.8, 0.8), (0.78, 0.79, 0.8, 0.82), (0.77, 0.8, 0.8, 0.81)]  # random pruning: little gone
NONE = [(0.8, 0.8, 0.85, 0.9), (0.8, 0.81, 0.86, 0.9), (0.8, 0.8, 0.84, 0.89)]
CONTROLS = {"random": RANDOM, "none": NONE}


def sweep(curves: dict[str, list[tuple[float, ...]]], retain_unlearned: float = 0.85) -> list:
    """Records of each method over seeds; every curve starts at that seed's unlearned score."""
    return [made_record(method, seed, unlearned=curve[0], relearn=curve,
                        retain_unlearned=0.9 if method == "none" else retain_unlearned)
            for method, per_seed in curves.items() for seed, curve in enumerate(per_seed)]


def write(records, folder):
    export_records(records, folder)
    return folder


@pytest.fixture
def baseline(tmp_path):
    records = write(sweep({**CONTROLS, "concept-neurons": RESISTANT}), tmp_path / "baseline-records")
    path = tmp_path / "baseline.json"
    assert main(["check", "--records", str(records), "--write-baseline", str(path)]) == 0
    return path


def check(baseline, records, tmp_path, capsys, name):
    code = main(["check", "--baseline", str(baseline), "--records", str(write(records, tmp_path / name))])
    return code, capsys.readouterr().err


def test_check_passes_on_its_baseline_and_on_changes_within_the_seed_spread(baseline, tmp_path, capsys):
    same = tmp_path / "baseline-records"
    assert main(["check", "--baseline", str(baseline), "--records", str(same)]) == 0
    assert "no regression" in capsys.readouterr().out
    assert check(baseline, sweep({**CONTROLS, "concept-neurons": NOISIER}), tmp_path, capsys, "noisy")[0] == 0


def test_check_fails_on_an_injected_regression_and_says_which_figure_moved_and_by_how_much(baseline, tmp_path, capsys):
    code, err = check(baseline, sweep({**CONTROLS, "concept-neurons": BROKEN}), tmp_path, capsys, "broken")
    assert code == 1
    before = json.loads(baseline.read_text())
    entry = next(e for b in before["boards"] for e in b["entries"] if e["method"] == "concept-neurons")
    now = next(e for b in build_boards(sweep({**CONTROLS, "concept-neurons": BROKEN})) for e in b.entries
               if e.method == "concept-neurons")
    drop = entry["stats"]["resistance"]["mean"] - now.stats["resistance"].mean
    assert drop > 0.3
    assert f"regression {entry['id']}: resistance fell by {drop:.3f}" in err
    assert "forgetting" not in err  # forgetting did not change: only the figures that moved are named


def test_relearning_silently_disabled_is_caught_though_resistance_rises(baseline, tmp_path, capsys):
    # Every curve stays where unlearning left it: "resistance" improves, which a one-sided gate would pass.
    flat = {method: [(c[0],) * 4 for c in curves] for method, curves in {**CONTROLS, "concept-neurons": RESISTANT}.items()}
    code, err = check(baseline, sweep(flat), tmp_path, capsys, "no-relearning")
    assert code == 1
    assert "none · m · any budget: relearned fell by" in err  # the none control's own figure names the cause
    assert "concept-neurons · m · 0.1 of units: resistance rose by" in err


def test_a_mask_leaking_into_the_random_control_is_caught(baseline, tmp_path, capsys):
    # The random control pruned the method's units: it now forgets what the method forgets.
    code, err = check(baseline, sweep({"random": RESISTANT, "none": NONE, "concept-neurons": RESISTANT}),
                      tmp_path, capsys, "leak")
    assert code == 1
    assert "random · m · 0.1 of units: forgetting rose by" in err


def test_multiplied_collateral_is_caught(baseline, tmp_path, capsys):
    # (0.9 - 0.85) / 0.9 = 0.056 becomes (0.9 - 0.6) / 0.9 = 0.333 for every pruned entry.
    code, err = check(baseline, sweep({**CONTROLS, "concept-neurons": RESISTANT}, retain_unlearned=0.6),
                      tmp_path, capsys, "collateral")
    assert code == 1
    assert "concept-neurons · m · 0.1 of units: collateral/f1/person rose by 0.278" in err


def test_a_missing_entry_fails_and_the_tolerance_grows_with_the_seed_spread_and_the_evaluation_error(baseline, tmp_path):
    only_controls = write(sweep(CONTROLS), tmp_path / "controls")
    boards = build_boards(sweep(CONTROLS))
    results = compare({e["id"]: e for b in json.loads(baseline.read_text())["boards"] for e in b["entries"]}, boards)
    assert [r.problem for r in results if r.problem] == ["entry missing: no records of this configuration"]
    assert main(["check", "--baseline", str(baseline), "--records", str(only_controls)]) == 1
    tight = tolerance({"n": 3, "sd": 0.01}, {"n": 3, "sd": 0.01}, floor=0.0)
    wide = tolerance({"n": 3, "sd": 0.1}, {"n": 3, "sd": 0.1}, floor=0.0)
    assert wide == pytest.approx(10 * tight) and tight > 0
    assert tolerance({"n": 3, "sd": 0.0}, {"n": 3, "sd": 0.0}, floor=0.02) == 0.02
    with_eval = tolerance({"n": 3, "sd": 0.0, "eval_ci95": 0.03}, {"n": 3, "sd": 0.0, "eval_ci95": 0.04}, floor=0.0)
    assert with_eval == pytest.approx(0.05)


def test_check_refuses_unusable_input(tmp_path, capsys):
    assert main(["check", "--baseline", str(tmp_path / "nope.json"), "--records", str(tmp_path)]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"boards": []}))
    write(sweep(CONTROLS), tmp_path / "r")
    assert main(["check", "--baseline", str(bad), "--records", str(tmp_path / "r")]) == 2
    assert "not a leaderboard.json" in capsys.readouterr().err
    assert main(["check", "--baseline", str(bad)]) == 2
    assert leaderboard_json(build_boards(sweep(CONTROLS)))["schema"] == 3
