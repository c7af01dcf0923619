"""`bench attack-search`: trials at sampled learning rates, each valued on the validation examples at its best
checkpoint within the attacker's bound, and the attacker-effort curve."""

from __future__ import annotations

import json

import pytest

from bench.core.errors import BenchError
from bench.harness.config import RunConfig
from bench.results.attack_search import search_attack, search_json
from bench.results.attack_search_pages import write_search
from tests.made_records import made_record

ENTRY = RunConfig(method="concept-neurons", task="ner", fraction=0.1, seed=0, relearn_lr=1e-4)


def fake_run(cfg: RunConfig):
    """A faster attack recovers more, and above 5e-4 its last checkpoint breaks the retain metric."""
    if cfg.method == "none":
        return made_record("none", cfg.seed, unlearned=0.8, relearn=(0.8, 0.79, 0.78, 0.78), retain_unlearned=0.9,
                           relearn_lr=cfg.relearn_lr)
    gain = min(0.5, cfg.relearn_lr * 1000)
    retain = (0.85, 0.85, 0.85, 0.4 if cfg.relearn_lr > 5e-4 else 0.85)
    return made_record("concept-neurons", cfg.seed, relearn=(0.2, 0.2 + gain / 4, 0.2 + gain / 2, 0.2 + gain),
                       relearn_lr=cfg.relearn_lr, retain_relearn=retain)


def test_each_trial_is_valued_at_its_best_checkpoint_within_the_bound_and_the_effort_curve_never_falls(tmp_path):
    search = search_attack(ENTRY, 6, 1e-4, 2e-3, run=fake_run)
    assert len(search.trials) == 6 and all(1e-4 <= t.lr <= 2e-3 for t in search.trials)
    assert {t.lr > 5e-4 for t in search.trials} == {True, False}  # both sides of the breaking rate were tried
    for t in search.trials:
        # A rate above 5e-4 broke the model at its last checkpoint (64): that checkpoint is never its value.
        assert (64 in t.inadmissible) == (t.lr > 5e-4)
        assert t.step != 64 or t.lr <= 5e-4
    effort = search.effort()
    assert effort == sorted(effort) and effort[-1] == max(t.recovered for t in search.trials)
    # The best trial is a slower rate at its last checkpoint, not a faster one that broke the model there.
    assert search.best().lr <= 5e-4 and search.best().step == 64 and search.best().recovered == effort[-1]
    # Seeded: the same search samples the same rates.
    assert [t.lr for t in search_attack(ENTRY, 6, 1e-4, 2e-3, run=fake_run).trials] == [t.lr for t in search.trials]
    page = write_search(search, tmp_path / "search")
    assert "| trial | lr |" in page.read_text() and (tmp_path / "search" / "effort.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "search" / "search.json").read_text())["effort"] == effort
    assert json.dumps(search_json(search))


def test_a_search_is_refused_for_an_attack_without_a_rate_or_a_bad_range():
    import dataclasses

    with pytest.raises(BenchError, match="does not train"):
        search_attack(dataclasses.replace(ENTRY, attack="quantize"), 2, 1e-5, 1e-3, run=fake_run)
    with pytest.raises(BenchError, match="0 < low < high"):
        search_attack(ENTRY, 2, 1e-3, 1e-5, run=fake_run)
    with pytest.raises(BenchError, match="at least 1"):
        search_attack(ENTRY, 0, 1e-5, 1e-3, run=fake_run)


def test_the_command_refuses_a_range_it_cannot_read(capsys):
    from bench.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["attack-search", "--method", "random", "--lr-range", "fast"])
    assert exit_info.value.code != 0 and "LOW:HIGH" in capsys.readouterr().err
