"""The neuroplasticity analysis: HATs of a wired unit, snapshots on disk, intervals, and a full analysed run."""

import json
import math

import pytest
import torch

import bench.harness.protocol as protocol
from bench.analysis.snapshots import (
    concept_similarity,
    load_snapshots,
    save_snapshots,
    take_snapshot,
    wilson_interval,
)
from bench.cli import main
from bench.harness.config import build_config
from bench.harness.store import run_folder
from bench.neurons.units import unit_space
from bench.results.report import write_run_outputs
from tests.conftest import CONCEPT_TOKEN, WIRED, concept_data, needs_assets, wired_bert


def test_the_wired_unit_s_highest_activating_tokens_are_its_token():
    model = wired_bert()
    snap = take_snapshot(model, unit_space(model, "mlp"), concept_data(), batch_size=8, label="base")
    layer, index = WIRED
    assert snap.hat_ids[layer, :, index].tolist() == [CONCEPT_TOKEN] * 5
    assert snap.hat_values[layer, 0, index] == 1.0  # normalised: each unit's top activation is 1
    assert torch.all(snap.hat_values[layer, 1:, index] <= 1.0)
    assert divmod(int(snap.scores.flatten().argmax()), snap.scores.shape[1]) == WIRED


def test_snapshots_round_trip(tmp_path):
    model = wired_bert()
    space = unit_space(model, "mlp")
    snaps = [take_snapshot(model, space, concept_data(), 8, "base"),
             take_snapshot(model, space, concept_data(), 8, "relearn@16", 16)]
    save_snapshots(snaps, tmp_path / "a.safetensors")
    loaded = load_snapshots(tmp_path / "a.safetensors")
    assert [(s.label, s.step) for s in loaded] == [("base", 0), ("relearn@16", 16)]
    assert torch.equal(loaded[1].hat_ids, snaps[1].hat_ids)


def test_wilson_interval_by_hand():
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson_interval(0, 20)[0] == pytest.approx(0.0, abs=1e-12)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_concept_similarity_is_one_for_unchanged_hats_and_excludes_pruned_units():
    model = wired_bert()
    snap = take_snapshot(model, unit_space(model, "mlp"), concept_data(), 8, "base")
    vectors = torch.randn(64, 8)
    pruned = torch.zeros_like(snap.scores, dtype=torch.bool)
    pruned[0, :4] = True
    similarity, per_layer = concept_similarity(snap, snap, vectors, pruned)
    assert torch.allclose(similarity, torch.ones_like(similarity))
    assert per_layer[0]["share_similar"] == 1.0 and per_layer[0]["ci_high"] == pytest.approx(1.0)


@needs_assets  # the concept-similarity embedder is the offline all-MiniLM-L6-v2
def test_an_analysed_run_writes_snapshots_report_and_plots(tiny_bert_folder, tiny_conll, capsys):
    cfg = build_config(cli_values={"model": str(tiny_bert_folder), "data": str(tiny_conll), "method": "concept-neurons",
                                   "finetune_epochs": "4", "finetune_lr": "3e-3", "relearn_steps": "16",
                                   "batch_size": "8", "analyze": "true"})
    record = protocol.run(cfg)
    folder = run_folder(record.run_id)
    assert [p.name for p in write_run_outputs(record)] == ["relearning.png", "report.html"]
    labels = [s.label for s in load_snapshots(folder / "analysis.safetensors")]
    relearn_steps = [s.step for s in record.stages if s.stage == "relearn" and s.step > 0]
    assert labels == ["base", "pruned"] + [f"relearn@{step}" for step in relearn_steps]
    page = (folder / "report.html").read_text()
    assert "Concept saliency per layer" in page and page.count("data:image/png;base64") == 3
    for png in ("relearning.png", "saliency_per_layer.png", "saliency_vs_similarity.png"):
        assert (folder / png).read_bytes()[:4] == b"\x89PNG"
    analysis = json.loads((folder / "analysis.json").read_text())
    assert list(analysis["saliency"]) == labels
    assert len(analysis["similarity"][labels[-1]]) == 2  # one entry per layer of the tiny model
    assert set(analysis["top_units"]) == {"base", "relearned"}

    # `bench analyze` re-renders the same analysis from the stored snapshots.
    (folder / "report.html").unlink()
    assert main(["analyze", record.run_id[:8]]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "% of salient units per layer" in out and "similar [95% CI]" in out
    assert (folder / "report.html").exists()
    assert main(["analyze", "0" * 16]) == 2


def test_analyze_explains_a_run_recorded_without_analysis(tiny_bert_folder, tiny_conll, capsys):
    record = protocol.run(build_config(cli_values={"model": str(tiny_bert_folder), "data": str(tiny_conll),
                                                   "finetune_epochs": "1", "relearn_steps": "4"}))
    assert main(["analyze", record.run_id]) == 2
    assert "run with --analyze" in " ".join(capsys.readouterr().err.split())
