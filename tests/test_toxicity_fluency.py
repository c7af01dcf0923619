"""The toxicity task's fluency retain metrics and its held-out evaluation prompts: a model that stops writing
(empty or looping completions) scores as non-toxic, and must be scored as damaged, not detoxified."""

import copy
import json

import pytest
import torch
from torch import nn

from bench.api.metrics import COLLATERAL_BOUNDS, beyond_bounds, collateral_by_metric
from bench.api.task import EvalSettings, TaskSettings
from bench.core.options import parse_options
from bench.core.plugins import TASKS
from bench.models.loading import HeadSpec, load_model
from bench.tasks.toxicity import OPINION_OPENERS, PAPER_PROMPT, is_fluent
from tests.conftest import needs_assets


def test_empty_and_looping_text_is_not_fluent_and_ordinary_text_is():
    assert not is_fluent("", 0.5) and not is_fluent("  \n ...", 0.5)
    assert not is_fluent(" the the the the the the the the", 0.5)
    assert not is_fluent(" you idiot you idiot you idiot you idiot you idiot", 0.5)
    assert is_fluent(" I think the new library opens at nine, and the staff seem friendly.", 0.5)
    assert is_fluent(" Yes, fine.", 0.5)  # too short to call a loop


def task(tmp_path, **options):
    path = tmp_path / "comments.jsonl"
    rows = [{"text": f"w{i} awful", "toxicity": 0.9} for i in range(16)] + [{"text": f"w{i} nice", "toxicity": 0.1}
                                                                          for i in range(16)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cls = TASKS.get("toxicity")
    settings = {"cbt_per_category": 0, "perplexity_documents": 1, "samples": 12, "prompts": 6, "max_new_tokens": 12,
                **options}
    return cls(TaskSettings(None, str(path), 0, None, parse_options(cls.Options, settings, "toxicity")))


def always_emit(model, token_id: int):
    """The model's own body with an output layer that always picks one token: EOS (it writes nothing) or a word
    (it repeats it)."""
    head = nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-30.0)
        head.bias[token_id] = 30.0
    model.lm_head = head
    model.config.tie_word_embeddings = False
    return model


@pytest.fixture(scope="module")
def smollm():
    return load_model("SmolLM2-135M-Instruct", HeadSpec("causal-lm"))


@needs_assets
def test_a_model_that_writes_nothing_or_loops_is_damaged_not_detoxified(tmp_path, smollm):
    toxicity = task(tmp_path)
    settings = EvalSettings(batch_size=8, autocast_dtype=None)
    intact = toxicity.evaluate(smollm.model, smollm.tokenizer, settings).scores()
    assert intact["fluent_pct"] >= 80 and 1.0 < intact["completion_nll"] < 6.0
    specs = {m.name: m for m in toxicity.metrics() if m.role == "retain"}
    retain = {name: m.higher_is_better for name, m in specs.items()}
    families = {name: m.family for name, m in specs.items()}
    tokenizer = smollm.tokenizer
    for token_id in (tokenizer.eos_token_id, tokenizer(" the", add_special_tokens=False)["input_ids"][0]):
        broken = always_emit(copy.deepcopy(smollm.model), token_id)
        scores = toxicity.evaluate(broken, tokenizer, settings).scores()
        assert scores["toxic_pct"] == 0.0  # "detoxified" by the toxicity figures alone ...
        assert scores["fluent_pct"] == 0.0  # ... but it writes nothing, or "the the the"
        drops = collateral_by_metric(intact, scores, retain)
        assert beyond_bounds(drops, families, COLLATERAL_BOUNDS), drops


@needs_assets
def test_evaluation_prompts_are_held_out_from_everything_the_model_trains_on(tmp_path):
    from bench.tasks.toxic_prompts import EVAL_OPENERS, evaluation_prompts
    from bench.tasks.toxic_set import SEED_PROMPTS

    prompts = evaluation_prompts(300)
    assert len(set(prompts)) == 300 and evaluation_prompts(100) == evaluation_prompts(100)
    trained = [*OPINION_OPENERS, *SEED_PROMPTS, PAPER_PROMPT]
    assert not {o.split("{")[0].strip() for o in EVAL_OPENERS} & {t.strip() for t in trained}
    assert not any(t in p for p in prompts for t in trained)
    # Six prompts, two completions each, resampled by prompt; `prompts=0` asks the paper's prompt alone.
    assert task(tmp_path).describe_data()["prompts"]["completions_per_prompt"] == 2
    paper = task(tmp_path, prompts=0).describe_data()["prompts"]
    assert paper == {"set": "single", "prompt": PAPER_PROMPT, "completions_per_prompt": 12}
