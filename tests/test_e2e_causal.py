"""Small real runs of the causal-LM tasks on the shipped assets: SmolLM2-135M-Instruct, the Austen cloze
set, the generated toxic set and the ported Jigsaw scorer. The module shares one BENCH_HOME so the
one-time work (de-quantising the GGUF model, tagging the novels, generating the toxic set) is done once."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REAL_HOME, needs_assets

pytestmark = [pytest.mark.e2e, needs_assets]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("causal-home")
    if (REAL_HOME / "assets").exists():
        (home / "assets").symlink_to(REAL_HOME / "assets")
    return {**os.environ, "BENCH_HOME": str(home), "BENCH_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}


def bench(*argv, env):
    return subprocess.run([sys.executable, "-m", "bench", *argv], capture_output=True, text=True, env=env, timeout=1800)


def record_of(env, run_id_line: str) -> dict:
    path = run_id_line.split("record: ", 1)[1].strip()
    return json.loads(open(path).read())


def test_random_pruning_on_cbt_end_to_end(env):
    result = bench("run", "--method", "random", "--task", "cbt", "--concept", "V", "--fraction", "0.2",
                   "--relearn-steps", "4", "--task-option", "eval_per_category=8",
                   "--task-option", "concept_sentences=40", "--task-option", "relearn_sentences=64",
                   "--task-option", "perplexity_documents=2", env=env)
    assert result.returncode == 0, result.stderr
    record = record_of(env, next(line for line in result.stdout.splitlines() if line.startswith("record: ")))
    stages = {(s["stage"], s["step"]): s["scores"] for s in record["stages"]}
    base = stages[("base", 0)]
    # The 135M model answers the offline cloze questions far above chance (10%): verbs and prepositions
    # best, named entities worst (measured on all 480 questions: 0.91, 0.83, 0.74, 0.41).
    assert base["accuracy/V"] >= 0.5 and base["accuracy/P"] >= 0.5 and base["accuracy/all"] > 0.3
    assert 5 < base["perplexity"] < 200
    assert record["metrics"][0] == {"name": "accuracy/V", "role": "target", "higher_is_better": True, "family": None}
    assert {"name": "nll", "role": "retain", "higher_is_better": False, "family": "nll"} in record["metrics"]
    assert {"name": "perplexity", "role": "info", "higher_is_better": False, "family": None} in record["metrics"]
    assert record["task"]["data"]["eval_questions_per_category"] == {"V": 8, "P": 8, "CN": 8, "NE": 8}
    mask = record["unlearning"]["mask"]
    assert mask["total"] == 30 * 1536 and mask["k"] == round(0.2 * 30 * 1536)
    # The attack is 4 steps whatever the data's size; every stage pairs its 32 questions for the bootstrap
    # (`sizes`: the examples resampled for a metric, all questions for each category's accuracy).
    assert list(stages)[-1] == ("relearn", 4) and record["summary"]["relearn_steps"] == 4
    assert record["stages"][0]["sizes"]["accuracy/V"] == 32 and record["evaluation"]["sizes"]["questions"] == 32
    assert record["stages"][0]["intervals"]["accuracy/V"] is not None


SMALL_TOXIC_SET = ("--task-option", "toxic_per_prompt=48", "--task-option", "cbt_per_category=2",
                   "--task-option", "perplexity_documents=2")


def test_random_pruning_on_toxicity_end_to_end_and_preparation_makes_the_model_toxic(env):
    result = bench("run", "--method", "random", "--task", "toxicity", "--fraction", "0.2", "--samples", "100",
                   "--relearn-steps", "2", "--finetune-epochs", "3", *SMALL_TOXIC_SET, env=env)
    assert result.returncode == 0, result.stderr
    record = record_of(env, next(line for line in result.stdout.splitlines() if line.startswith("record: ")))
    data = record["task"]["data"]
    toxic_set = data["toxic_set"]
    assert toxic_set["generated"] == 8 * 48 and toxic_set["scored"] == "completion alone"
    assert toxic_set["kept"] >= 8 and toxic_set["clean"] > toxic_set["kept"]
    assert data["concept_contrast"]["what"].startswith("non-toxic texts of the same prompts")
    assert data["scorer"]["name"] == "jigsaw-lstm" and data["scorer"]["version"] == "toxic-comment-classifier==0.3.0"
    preparation = record["model"]["preparation"]
    assert preparation["finetuned"] and "toxic_pct" in preparation["scores_before"]
    for stage in record["stages"]:
        assert 0 <= stage["scores"]["toxic_pct"] <= 100 and 0 <= stage["scores"]["toxicity_mean"] <= 1
        assert {"nll", "perplexity", "cbt_accuracy", "fluent_pct", "completion_nll"} <= set(stage["scores"])
    # 100 completions: the first 100 held-out opinion prompts, one completion each, resampled by prompt.
    assert data["prompts"]["count"] == 100 and data["prompts"]["completions_per_prompt"] == 1
    assert record["stages"][0]["sizes"]["toxicity_mean"] == 100
    # The record keeps what the preparation did to the model, on the same samples and scorer: SmolLM2-Instruct
    # answers opinion prompts almost never toxically (mean toxicity about 0.02); fine-tuned on a few dozen toxic
    # texts introduced as opinions, clearly more on prompts it never saw (the standard error of a mean over 100
    # prompts is < 0.04).
    before, after = preparation["scores_before"], record["stages"][0]["scores"]
    assert set(before) == set(after)
    assert after["toxicity_mean"] - before["toxicity_mean"] > 0.05, (before, after)
    assert preparation["examples"] >= data["parts"]["prepare"] > 0  # one window per text, more for long ones


SMALL_TOXICITY = ("--task", "toxicity", "--k", "8", "--samples", "40", "--relearn-steps", "2",
                  "--finetune-epochs", "3", *SMALL_TOXIC_SET, "--method-option", "explain_top=16")


def test_snip_with_the_offline_default_backends_on_toxicity_end_to_end(env):
    result = bench("run", "--method", "snip", *SMALL_TOXICITY, env=env)
    assert result.returncode == 0, result.stderr
    assert "top pruned units (snip)" in result.stdout
    record_line = next(line for line in result.stdout.splitlines() if line.startswith("record: "))
    record = record_of(env, record_line)
    info = record["method"]["info"]
    assert info["backend"]["backend"] == "local" and info["backend"]["model"] == "SmolLM2-135M-Instruct"
    assert info["embedder"] == {"backend": "sentence-transformers", "model": "all-MiniLM-L6-v2"}
    assert info["candidates"] == 16 and info["concepts"] and info["fill"] == "none"
    assert record["method"]["label"] == "snip [local, top 16]"
    mask = record["unlearning"]["mask"]
    assert mask["k_requested"] == 8 and mask["k"] == mask["k_pruned"] == min(8, info["ranked_units"])
    folder = record_line.split("record: ", 1)[1].strip().rsplit("/", 1)[0]
    rows = [json.loads(line) for line in open(f"{folder}/explanations.jsonl")]
    assert len(rows) == 16 and sum(row["pruned"] for row in rows) == mask["k"]

    # The keyword baseline on the same run settings reuses every explanation from the LLM cache; its keyword
    # is a word of one of those explanations, so it matches at least that unit.
    word = next(w for row in rows for w in row["explanation"].lower().split() if len(w) > 4 and w.isalpha())
    keyword = bench("run", "--method", "keyword", *SMALL_TOXICITY, "--method-option", f"keywords={word}", env=env)
    assert keyword.returncode == 0, keyword.stderr
    keyword_info = record_of(env, next(line for line in keyword.stdout.splitlines()
                                       if line.startswith("record: ")))["method"]["info"]
    assert keyword_info["llm_cache"]["computed"] == 0 and keyword_info["llm_cache"]["hits"] >= 16
    assert keyword_info["matched_units"] >= 1 and keyword_info["keywords"] == [word]
    assert keyword_info["ranked_by"] == "unscored: matches in candidate order"
