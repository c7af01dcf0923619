"""Likelihoods, perplexity and sampling on tiny causal models, checked against what they must equal."""

import math
import warnings

import pytest
import torch

from bench.api.evaluation import Evaluation
from bench.models.generation import SamplingSettings, sample_completions
from bench.tasks.causal_lm import (
    ChoiceItem,
    lm_examples,
    option_log_likelihoods,
    perplexity,
    span_labelled,
)
from bench.tasks.cbt import choice_item, cloze_correct, question_columns
from bench.tasks.cloze import ClozeQuestion
from tests.conftest import tiny_model, word_tokenizer


def bigram_llama():
    """A Llama whose blocks add nothing (output projections zeroed), so p(next | text) depends only on the
    last token: log_softmax(lm_head · norm(embedding[last])). Its likelihoods are known in closed form."""
    model = tiny_model("llama")
    with torch.no_grad():
        for block in model.model.layers:
            block.self_attn.o_proj.weight.zero_()
            block.mlp.down_proj.weight.zero_()
        tok = word_tokenizer()
        normed = model.model.norm(model.model.embed_tokens.weight)
        head = torch.zeros_like(model.lm_head.weight)
        ids = tok.convert_tokens_to_ids
        for before, after in (("the", "mat"), ("mat", "."), ("on", "the"), ("sat", "on")):
            head[ids(after)] += 8 * normed[ids(before)] / normed[ids(before)].norm()
        model.lm_head.weight.copy_(head)
    return model, tok


def closed_form(model, tok, context: str, continuation: str) -> float:
    ids = tok(context + continuation, add_special_tokens=False)["input_ids"]
    n = len(tok(continuation, add_special_tokens=False)["input_ids"])
    normed = model.model.norm(model.model.embed_tokens.weight)
    logprobs = torch.log_softmax(normed @ model.lm_head.weight.T, dim=-1)
    return float(sum(logprobs[ids[i - 1], ids[i]] for i in range(len(ids) - n, len(ids))))


@torch.no_grad()
def test_option_likelihoods_equal_the_closed_form_of_a_bigram_model():
    model, tok = bigram_llama()
    item = ChoiceItem("the cat sat on the mat .", " the dog sat on the", (" mat .", " dog .", " park ."))
    got = option_log_likelihoods(model, tok, [item])[0]
    expected = [closed_form(model, tok, item.shared + item.prefix, o) for o in item.options]
    assert got == pytest.approx(expected, abs=1e-4)
    assert got[0] > got[1] and got[0] > got[2]


@torch.no_grad()
def test_the_cloze_scorer_picks_the_candidate_the_model_makes_likely():
    model, tok = bigram_llama()
    options = ("dog", "mat", "park", "house", "cat", "big", "small", "a", "to", "ran")
    right = ClozeQuestion(("the cat sat on the mat .",) * 20, "the dog sat on the XXXXX .", "mat", options, "CN")
    wrong = ClozeQuestion(("the cat sat on the mat .",) * 20, "the dog sat on the XXXXX .", "park", options, "NE")
    correct = cloze_correct(model, tok, [right, wrong], None)
    assert correct == [True, False]
    columns, statistics = question_columns([right, wrong], correct, ("V", "CN", "NE"))
    scores = Evaluation({"questions": columns}, statistics).scores()
    # A category without a question is undefined, not 0.
    assert scores == {"accuracy/V": None, "accuracy/CN": 1.0, "accuracy/NE": 0.0, "accuracy/all": 0.5}


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@torch.no_grad()
def test_shared_context_and_cache_give_the_same_likelihoods_as_full_forward_passes(family):
    # GPT-2 has absolute positions: the cached continuation must sit at the right positions.
    model, tok = tiny_model(family), word_tokenizer()
    shared = "the cat sat on the mat . the dog ran to a park ."
    items = [ChoiceItem(shared, " a big", (" house .", " cat sat on the mat .", " .")),
             ChoiceItem(shared, "", (" the small dog", " mat")),
             ChoiceItem("a dog", " ran", (" to", " on the"))]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the cache is passed by the name this transformers uses
        got = option_log_likelihoods(model, tok, items)
    for item, scores in zip(items, got):
        for option, score in zip(item.options, scores):
            ids = tok(item.shared + item.prefix + option, add_special_tokens=False)["input_ids"]
            n = len(tok(option, add_special_tokens=False)["input_ids"])
            logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)
            expected = sum(float(logprobs[i - 1, ids[i]]) for i in range(len(ids) - n, len(ids)))
            assert score == pytest.approx(expected, abs=1e-4)


def test_a_choice_item_continues_the_context_into_exactly_the_filled_in_query():
    q = ClozeQuestion(("One.",) * 20, "She XXXXX home.", "went", ("went", "ran"), "V")
    item = choice_item(q)
    assert [item.prefix + o for o in item.options] == [" She went home.", " She ran home."]
    start = ClozeQuestion(("One.",) * 20, "XXXXX the door.", "to", ("to", "by"), "P")
    assert [choice_item(start).prefix + o for o in choice_item(start).options] == [" To the door.", " By the door."]
    quoted = ClozeQuestion(("One.",) * 20, '"XXXXX," said he.', "Emma", ("Emma", "Jane"), "NE")
    assert [choice_item(quoted).prefix + o for o in choice_item(quoted).options] == [' "Emma," said he.', ' "Jane," said he.']


@torch.no_grad()
def test_perplexity_is_the_exponential_of_the_mean_next_token_loss():
    model, tok = tiny_model("llama"), word_tokenizer()
    text = "the cat sat on the mat . the dog ran to a park"
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    expected = math.exp(float(model(input_ids=ids, labels=ids).loss))
    assert perplexity(model, tok, [text], max_length=64, batch_size=4) == pytest.approx(expected, rel=1e-5)
    # Batched with a shorter text (right padding) changes nothing for the long one's tokens.
    both = perplexity(model, tok, [text, "a big house"], max_length=64, batch_size=4)
    short = torch.tensor([tok("a big house", add_special_tokens=False)["input_ids"]])
    nll = float(model(input_ids=ids, labels=ids).loss) * 12 + float(model(input_ids=short, labels=short).loss) * 2
    assert both == pytest.approx(math.exp(nll / 14), rel=1e-5)


def test_language_modelling_examples_are_windows_with_padding_ignored():
    tok = word_tokenizer()
    data = lm_examples(tok, ["the cat sat on the mat .", "a dog"], max_length=4)
    assert [len(e["input_ids"]) for e in data.examples] == [4, 3, 2]
    batch = next(iter(data.loader(3)))
    assert batch["labels"][2].tolist() == [9, 3, -100, -100]


def test_span_labels_mark_exactly_the_tokens_inside_the_spans():
    tok = word_tokenizer()
    concept = span_labelled(tok, ["the cat sat on the mat"], [[(4, 7), (19, 22)]], 16, ("other", "noun"))
    assert concept.data.examples[0]["labels"] == [0, 1, 0, 0, 0, 1]


@torch.no_grad()
def test_sampling_is_reproducible_per_seed_and_differs_across_seeds():
    model, tok = tiny_model("llama"), word_tokenizer()
    prompts = ["the cat sat", "a dog ran to a big"] * 3
    settings = SamplingSettings(max_new_tokens=8, top_k=50, batch_size=4, seed=3)
    first = sample_completions(model, tok, prompts, settings)
    assert first == sample_completions(model, tok, prompts, settings)
    other = sample_completions(model, tok, prompts, SamplingSettings(max_new_tokens=8, top_k=50, batch_size=4, seed=4))
    assert first != other and len(first) == len(prompts) and all(first)
