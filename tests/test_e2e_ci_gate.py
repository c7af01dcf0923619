"""The CI regression gate on the shipped assets, exactly as this repository's CI (and a method author's)
runs it: the tiny configuration passes against its committed baseline, and fails when a change to the
method makes it forget less."""

from pathlib import Path

import pytest

from bench.cli import main
from tests.conftest import needs_assets

pytestmark = [pytest.mark.e2e, needs_assets]

ROOT = Path(__file__).resolve().parents[1]
CONFIG, BASELINE = ROOT / "leaderboards" / "ci.toml", ROOT / "leaderboards" / "ci-baseline.json"


def test_the_gate_passes_on_its_baseline_and_fails_on_an_injected_regression(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Reading a configuration never runs it: the gate refuses until the sweep has recorded every run.
    assert main(["check", "--config", str(CONFIG), "--baseline", str(BASELINE)]) == 2
    assert "run `bench sweep --config" in capsys.readouterr().err
    assert main(["sweep", "--config", str(CONFIG)]) == 0
    assert main(["check", "--config", str(CONFIG), "--baseline", str(BASELINE)]) == 0
    assert "no regression" in capsys.readouterr().out

    # The injected regression: a new version of concept-neurons with its ranking inverted (a sign slip that
    # prunes the least salient units first). The version is part of the run id, so only its runs are redone.
    from bench.methods.concept_neurons import ConceptNeurons

    real = ConceptNeurons.score_units
    monkeypatch.setattr(ConceptNeurons, "version", ConceptNeurons.version + 1)
    monkeypatch.setattr(ConceptNeurons, "score_units", lambda self, model, ctx: -real(self, model, ctx))
    assert main(["sweep", "--config", str(CONFIG)]) == 0
    assert main(["check", "--config", str(CONFIG), "--baseline", str(BASELINE)]) == 1
    err = capsys.readouterr().err
    assert "regression ner/geo-loc · concept-neurons [standardized] · all-MiniLM-L6-v2 · k = 184: forgetting fell by" in err
