"""`bench submit`: an outside author's method (the example plug-in, pip-installed with an entry point) runs
the pinned configuration and its validated records land where a pull request picks them up."""

from bench.api.validate import read_records, validate_file
from bench.cli import main
from bench.results.leaderboard import build_boards


def test_a_plugin_method_is_submitted_and_joins_the_leaderboard(installed_plugin, tiny_sweep, tmp_path, monkeypatch, capsys):
    config, control_records, home = tiny_sweep
    monkeypatch.setenv("BENCH_HOME", str(home))  # where the controls already ran
    out = tmp_path / "records"
    assert main(["submit", "last-layers", "--config", str(config), "--records", str(out)]) == 0
    written = sorted(out.rglob("*.json"))
    assert [p.parent.relative_to(out).as_posix() for p in written] == ["ner/last-layers"] * 3
    records = [validate_file(p) for p in written]
    assert sorted(r.config["seed"] for r in records) == [0, 1, 2]
    assert {r.method.origin for r in records} == {"bench-example-plugin 0.1.0"}
    # The submission pairs with the controls under the same configuration.
    (board,) = build_boards(read_records(control_records) + records)
    entry = next(e for e in board.entries if e.method == "last-layers")
    assert entry.k == 12 and entry.seeds == [0, 1, 2]
    assert len(entry.values["score"]) == 3 and None not in entry.values["score"]  # paired with `none` per seed
    assert "bench leaderboard build --records" in capsys.readouterr().out


def test_submit_refuses_built_in_and_unknown_methods(tiny_sweep, tmp_path, capsys):
    config, _, _ = tiny_sweep
    assert main(["submit", "random", "--config", str(config), "--records", str(tmp_path)]) == 2
    assert "is built in" in capsys.readouterr().err
    assert main(["submit", "nope", "--config", str(config), "--records", str(tmp_path)]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.json"))
