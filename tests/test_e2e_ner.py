"""A small real run on the shipped assets: all-MiniLM-L6-v2 fine-tuned on WNUT-16, pruned, relearned.

Golden bands, not exact numbers: the run is seeded and deterministic on one machine, but floating-point
sums differ slightly across CPUs. Measured on the 2-core CI machine (torch 2.13.0 CPU) for these settings.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import needs_assets

pytestmark = [pytest.mark.e2e, needs_assets]


def bench(*argv, env):
    return subprocess.run([sys.executable, "-m", "bench", *argv], capture_output=True, text=True, env=env, timeout=1200)


def test_random_pruning_on_ner_end_to_end(bench_home):
    env = {**os.environ, "BENCH_HOME": str(bench_home), "BENCH_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    # WNUT-16 by name: the golden bands below are its (the default data is the silver corpus).
    args = ["run", "--method", "random", "--task", "ner", "--data", "wnut16", "--finetune-epochs", "2",
            "--relearn-steps", "64"]
    result = bench(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "summary" in result.stdout and "forgetting" in result.stdout
    (record_path,) = bench_home.glob("runs/*/record.json")
    record = json.loads(record_path.read_text())

    stages = {(s["stage"], s["step"]): s["scores"] for s in record["stages"]}
    assert list(stages) == [("base", 0), ("unlearned", 0), ("relearn", 0), ("relearn", 4), ("relearn", 16),
                            ("relearn", 64)]
    base, unlearned, relearned = stages[("base", 0)], stages[("unlearned", 0)], stages[("relearn", 64)]
    mask = record["unlearning"]["mask"]
    assert record["task"]["concept"] == "geo-loc" and mask["k"] == 4608 and mask["total"] == 9216
    data = record["task"]["data"]
    assert data["eval_sentences"] == 668 and data["concept_entities"]["eval"] == 89 and data["duplicates_dropped"] == 99
    # The fine-tuned encoder has learned locations; pruning half of its MLP neurons at random hurts them;
    # retraining brings part of it back.
    assert 0.45 < base["f1/geo-loc"] < 0.8
    assert unlearned["f1/geo-loc"] < base["f1/geo-loc"] - 0.05
    assert relearned["f1/geo-loc"] > unlearned["f1/geo-loc"]
    assert record["summary"]["forgetting"] > 0.05 and 0 < record["summary"]["collateral"] < 1
    # Every stage's score carries its evaluation interval, and forgetting this large is resolved from the noise.
    low, high = record["stages"][0]["intervals"]["f1/geo-loc"]
    assert low < base["f1/geo-loc"] < high and record["stages"][0]["sizes"]["f1/geo-loc"] == 668
    assert record["summary"]["forgetting_resolved"] and record["summary"]["intervals"]["forgetting"][0] > 0
    assert record["provenance"]["device"]["type"] == "cpu" and record["model"]["preparation"]["finetuned"]

    again = bench(*args, env=env)
    assert again.returncode == 0 and "already recorded" in again.stderr
    shown = bench("show", record["run_id"], env=env)
    assert shown.returncode == 0 and "f1/others" in shown.stdout
