"""RunConfig: precedence (defaults < profile < file < CLI), validation, and the hash behind run ids."""

import pytest

from bench.core.errors import BenchError, UnknownNameError
from bench.harness.config import PROFILES, RunConfig, build_config, read_config_file


def test_quick_profile_without_gpu_and_paper_with_one():
    assert build_config(has_gpu=False).profile == "quick"
    paper = build_config(has_gpu=True)
    assert paper.profile == "paper"
    assert (paper.finetune_epochs, paper.finetune_lr, paper.fraction, paper.batch_size) == (3.0, 2e-5, 0.5, 8)
    assert (paper.relearn_steps, paper.relearn_checkpoints, paper.weight_decay) == (1024, (4, 16, 64, 256, 1024), 0.01)
    assert build_config(has_gpu=False).checkpoints() == [0, 4, 16, 64, 256]


def test_task_refines_the_profile():
    quick = build_config(has_gpu=False)
    from bench.tasks.ner import NerTask

    assert quick.finetune_lr == NerTask.profile_overrides["quick"]["finetune_lr"]


def test_the_paper_profile_runs_the_papers_snip_explaining_every_unit_unless_told_otherwise():
    assert build_config({"method": "snip", "profile": "paper"}).method_options == {"explain_top": 0}
    assert build_config({"method": "keyword"}, has_gpu=True).method_options == {"explain_top": 0}
    assert build_config({"method": "snip", "profile": "quick"}).method_options == {}
    assert build_config({"method": "snip", "profile": "paper"},
                        {"method_options": {"explain_top": "64"}}).method_options == {"explain_top": "64"}


def test_precedence_file_over_profile_and_cli_over_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('profile = "paper"\nrelearn_steps = 64\nseed = 3\n[method_options]\nalpha = "1"\n')
    cfg = build_config(read_config_file(path), {"seed": "7", "method_options": {"beta": "2"}})
    assert cfg.profile == "paper"
    assert cfg.relearn_steps == 64  # file beats profile
    assert cfg.relearn_checkpoints == PROFILES["paper"]["relearn_checkpoints"]
    assert cfg.checkpoints() == [0, 4, 16, 64]
    assert cfg.seed == 7  # CLI beats file, and "7" became an int
    assert cfg.method_options == {"alpha": "1", "beta": "2"}


def test_an_explicit_k_replaces_the_profile_fraction():
    cfg = build_config(cli_values={"k": "100"})
    assert (cfg.k, cfg.fraction) == (100, None)


def test_unknown_settings_and_bad_values_are_clear_errors(tmp_path):
    with pytest.raises(BenchError, match="unknown setting.*'learning_rate'"):
        build_config(cli_values={"learning_rate": "1"})
    with pytest.raises(BenchError, match="seed must be int"):
        build_config(cli_values={"seed": "one"})
    with pytest.raises(BenchError, match="mask_mode must be one of 'persistent', 'regrow'"):
        build_config(cli_values={"mask_mode": "sometimes"})
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = \n")
    with pytest.raises(BenchError, match="bad.toml"):
        read_config_file(bad)
    with pytest.raises(UnknownNameError, match="unknown task 'nerr'"):
        build_config(cli_values={"task": "nerr"})


@pytest.mark.parametrize("fraction", ["0", "-0.5", "1.01"])
def test_fraction_must_be_in_the_unit_interval(fraction):
    with pytest.raises(BenchError, match=r"--fraction must be in \(0, 1\]"):
        build_config(cli_values={"fraction": fraction})


def test_hash_changes_with_any_setting_and_not_otherwise():
    a, b = RunConfig(), RunConfig()
    assert a.content_hash("m") == b.content_hash("m")
    assert a.content_hash("m") != RunConfig(seed=1).content_hash("m")
    assert a.content_hash("m") != a.content_hash("other model")
