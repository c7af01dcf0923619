"""The `bench` command: clear errors with choices and a non-zero exit, and the read-only commands."""

import re

import pytest

from bench.cli import main
from bench.harness.store import list_runs


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, " ".join(captured.err.split())  # rich wraps long lines


@pytest.fixture(autouse=True)
def offline_hub(monkeypatch):
    """No hub here: say so, so that hub look-ups fail at once instead of retrying the network."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import time otherwise


def test_list_shows_methods_and_tasks_with_their_origin(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    assert "random" in out and "ner" in out and "built-in" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--method", "randm"], "unknown method 'randm' (did you mean 'random'?); choices: concept-neurons, grad-ascent, grad-diff, keyword, llm-select, never-learned, none, npo, random, retain-tuning, rmu, selective-pruning, simnpo, snip"),
        (["--task", "tox"], "unknown task 'tox'; choices: cbt, ner, toxicity"),
        (["--attack", "fine-tune"], "unknown relearning attack 'fine-tune' (did you mean 'finetune'?); choices: "),
        (["--fraction", "1.5"], "--fraction must be in (0, 1], got 1.5"),
        (["--fraction", "0"], "--fraction must be in (0, 1], got 0.0"),
        (["--k", "0"], "--k must be at least 1"),
        (["--seed", "x"], "seed must be int, got 'x'"),
    ],
)
def test_bad_run_arguments_fail_fast_with_a_clear_message(capsys, argv, message):
    code, _, err = run_cli(capsys, "run", *argv)
    assert code == 2
    assert message in err


def test_unknown_model_lists_the_offline_models(capsys, tiny_conll):
    code, _, err = run_cli(capsys, "run", "--data", str(tiny_conll), "--model", "no-such-org/no-such-model")
    assert code == 2
    assert "unknown model 'no-such-org/no-such-model'" in err
    assert "all-MiniLM-L6-v2" in err and "local model folder" in err


def test_unknown_concept_lists_the_entity_types(capsys, tiny_conll, tiny_bert_folder):
    code, _, err = run_cli(capsys, "run", "--data", str(tiny_conll), "--model", str(tiny_bert_folder),
                           "--concept", "city")
    assert code == 2
    assert "unknown concept (entity type) 'city'; choices: company, geo-loc, person" in err


def test_malformed_conll_names_file_and_line(capsys, tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text("Paris\tB-geo-loc\nis\tO\nnice\n")
    code, _, err = run_cli(capsys, "run", "--data", str(bad))
    assert code == 2
    assert f"{bad}:3: expected 'token<TAB>tag'" in err


def test_unknown_task_option_and_config_file_setting(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--task-option", "colour=red")
    assert code == 2 and "task 'ner' has no option 'colour'; its options: max_length, eval_split" in err
    config = tmp_path / "run.toml"
    config.write_text("learning_rate = 3\n")
    code, _, err = run_cli(capsys, "run", "--config", str(config))
    assert code == 2 and "unknown setting(s) 'learning_rate'" in err


def test_run_then_show_and_runs(capsys, tiny_conll, tiny_bert_folder):
    code, out, _ = run_cli(capsys, "run", "--data", str(tiny_conll), "--model", str(tiny_bert_folder),
                           "--finetune-epochs", "8", "--finetune-lr", "3e-3", "--relearn-steps", "4", "--k", "6")
    assert code == 0
    assert "summary" in out and "forgetting" in out and "record:" in out
    (run_id,) = [r.run_id for r in list_runs()]
    assert f"runs/{run_id}/record.json" in out
    code, out, _ = run_cli(capsys, "show", run_id[:8])
    assert code == 0 and run_id in out and "f1/company" in out
    # The summary shows each figure with its 95% interval over the evaluation examples.
    collateral = next(line for line in out.splitlines() if "collateral f1/others" in line)
    assert re.search(r"-?\d\.\d{3}\s+\[-?\d\.\d{3}, -?\d\.\d{3}\]", collateral), collateral
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and run_id in out
    code, _, err = run_cli(capsys, "show", "ffffffff")
    assert code == 2 and "no run 'ffffffff'" in err


def test_assets_status_lists_every_asset(capsys):
    code, out, _ = run_cli(capsys, "assets")
    assert code == 0 and "all-MiniLM-L6-v2" in out and "wnut16" in out
    code, _, err = run_cli(capsys, "assets", "install", "gpt5")
    assert code == 2 and "unknown asset 'gpt5'" in err


def test_seeds_run_once_per_seed_and_report_mean_and_ci(capsys, tiny_conll, tiny_bert_folder):
    code, out, _ = run_cli(capsys, "run", "--data", str(tiny_conll), "--model", str(tiny_bert_folder),
                           "--finetune-epochs", "1", "--relearn-steps", "4", "--k", "6", "--seeds", "0,1")
    assert code == 0
    assert "mean ± 95% CI over seeds 0, 1" in " ".join(out.split()) and "forgetting" in out
    assert sorted(r.seed for r in list_runs()) == [0, 1]
    code, _, err = run_cli_raw(["run", "--seeds", "1,1"])
    assert code == 2
    code, _, err = run_cli(capsys, "run", "--seeds", "1,2", "--seed", "3")
    assert code == 2 and "give --seed or --seeds, not both" in err


def run_cli_raw(argv):
    try:
        return main(argv), None, None
    except SystemExit as exc:  # argparse rejects malformed flags itself, with exit code 2
        return exc.code, None, None


def test_square_brackets_in_messages_are_printed_not_read_as_markup(capsys, monkeypatch):
    # rich reads "[word]" as a style tag and drops it: an install hint must keep its extra, a label its ranker
    import bench.cli.plugins
    from bench.core.errors import BenchError

    def fails(args):
        raise BenchError("install it with `pip install 'relearn-bench[detoxify]'` (concept-neurons [standardized])")

    monkeypatch.setattr(bench.cli.plugins, "cmd_assets", fails)
    assert main(["assets"]) == 2
    assert "pip install 'relearn-bench[detoxify]'` (concept-neurons [standardized])" in capsys.readouterr().err
