"""SNIP and its baselines on a tiny random Llama: activation records against brute force, the prompts and
their parsers, the ranking rules, and whole unlearning runs through the hats, file and openai backends."""

import json
import re

import pytest
import torch

from bench.api.data import ConceptData, Examples
from bench.api.method import UnlearnContext
from bench.core.errors import BenchError, DataFormatError
from bench.core.options import parse_options
from bench.core.plugins import METHODS
from bench.methods.snip.explainers import read_explanations
from bench.methods.snip.forget_set import concept_samples, distinctive_words
from bench.methods.snip.prompts import (
    explanation_request,
    parse_concepts,
    parse_explanation,
    parse_rating,
)
from bench.methods.snip.pruning import (
    among_equals_at_the_cut,
    keyword_matches,
    keywords_from,
    ranked_scores,
    top_units,
)
from bench.methods.snip.records import ActivationRecords, activation_records
from bench.neurons.units import unit_space
from tests.conftest import concept_data, tiny_model, word_tokenizer
from tests.openai_server import FakeOpenAI


def context(model, **kw):
    space = unit_space(model, "mlp")
    return UnlearnContext(space=space, concept=concept_data(), fraction=None, k=kw.pop("k", 6), seed=0, batch_size=8,
                          device=torch.device("cpu"), tokenizer=word_tokenizer(), **kw)


def unlearn(method, subject, **options):
    cls = METHODS.get(method)
    return cls(parse_options(cls.Options, options, method)).unlearn(subject, context(subject))


# -- activation records ---------------------------------------------------------------------------
def all_activations(model, data):
    space = unit_space(model, "mlp")
    seen = {}
    rows = []
    with space.hooked(model, lambda layer, acts: seen.__setitem__(layer, acts.detach().clone())):
        for batch in data.loader(100):
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            rows.append(torch.stack([seen[layer] for layer in range(space.n_layers)]))
    return torch.cat(rows, dim=1)  # [layers, sequences, tokens, width]


def test_activation_records_are_the_top_sequences_with_their_true_activations():
    model, data = tiny_model("llama"), concept_data()
    acts = all_activations(model, data.data)
    units = torch.tensor([[0, 3], [1, 17], [1, 0]])
    records = activation_records(model, unit_space(model, "mlp"), data.data, units, word_tokenizer(),
                                 n_records=3, window=4, batch_size=7)
    for (layer, index), record in zip(units.tolist(), records):
        per_sequence = acts[layer, :, :, index].max(dim=1).values
        top = per_sequence.topk(3).indices.tolist()
        assert (record.layer, record.index) == (layer, index)
        assert record.max_activation == pytest.approx(float(per_sequence.max()), abs=1e-5)
        for seq, values in zip(top, record.activations):
            peak = int(acts[layer, seq, :, index].argmax())
            start = max(0, min(peak - 2, 10 - 4))
            assert values == pytest.approx(acts[layer, seq, start:start + 4, index].tolist(), abs=1e-5)


def test_scaled_activations_run_from_0_to_10_with_negatives_at_0():
    record = ActivationRecords(0, 1, [["a", "b", "c"]], [[-1.0, 0.5, 2.0]], 2.0)
    assert record.scaled() == [[0, 2, 10]]
    assert record.highest_activating_tokens(2) == ["c", "b"]


# -- prompts and parsers --------------------------------------------------------------------------
def test_the_explanation_prompt_lists_every_token_with_its_scaled_activation():
    record = ActivationRecords(4, 7, [["you", " idiot", "\n"]], [[0.2, 2.0, 0.0]], 2.0)
    request = explanation_request(record)
    user = request.messages[-1][1]
    assert "Neuron 4.7" in user
    assert "<start>\nyou\t1\n idiot\t10\n\\n\t0\n<end>" in user
    assert "non-zero only: you (1), idiot (10)" in user
    assert request.reply_prefix == "The main thing this neuron does is find"


@pytest.mark.parametrize("reply, expected", [
    ("The main thing this neuron does is find insults aimed at a person. It also fires on...", "insults aimed at a person."),
    ("Explanation: words about food\nmore", "words about food"),
    ('"swear words"', "swear words"),
    ("", ""),
])
def test_an_explanation_is_the_first_sentence_without_the_lead_in(reply, expected):
    assert parse_explanation(reply) == expected


def test_concepts_are_parsed_from_numbered_bulleted_and_inline_lists():
    assert parse_concepts("Common themes:\n1. Insults\n2. Profanity (strong)\n3. Anger: at people", 10) == \
        ["Insults", "Profanity", "Anger"]
    assert parse_concepts("1. Rude tone 2. Slurs\n- Slurs\n* Threats", 10) == ["Rude tone", "Slurs", "Threats"]
    assert parse_concepts("insults, profanity; anger", 2) == ["insults", "profanity"]
    with pytest.raises(BenchError, match="no list of concepts"):
        parse_concepts("I cannot help with that.\nSorry.", 10)


def test_a_rating_is_the_first_integer_from_0_to_10():
    assert parse_rating("Rating: 7/10") == 7
    assert parse_rating("Rating: 10") == 10
    assert parse_rating("Rating: high") is None


# -- ranking --------------------------------------------------------------------------------------
def test_ranked_units_come_first_in_their_order_and_the_rest_are_not_ranked():
    scores = ranked_scores([(1, 2), (0, 0)], (2, 3))
    assert torch.isnan(scores).sum() == 4
    assert torch.argsort(-scores.nan_to_num(float("-inf")).flatten())[:2].tolist() == [5, 0]


def test_an_explicit_fill_orders_the_rest_after_every_ranked_unit():
    fallback = torch.tensor([[0.1, 0.9, 0.5], [0.7, 0.3, 0.2]])
    scores = ranked_scores([(1, 2), (0, 0)], (2, 3), fill=fallback)
    order = torch.argsort(-scores.flatten()).tolist()
    assert order == [5, 0, 1, 3, 2, 4]  # (1,2), (0,0), then 0.9, 0.7, 0.5, 0.3
    assert top_units(fallback, 2).tolist() == [[0, 1], [1, 0]]


def test_keywords_default_to_the_content_words_of_the_forget_sets_concepts():
    assert keywords_from(["Insults and name-calling", "offensive language", "insults"]) == \
        ["insults", "name-calling", "offensive"]
    assert keyword_matches("words that insult a person", ["insult", "sult", "person"]) == ["insult", "person"]


def test_distinctive_words_are_whole_words_over_represented_in_the_concept():
    tok = word_tokenizer()
    ids = tok.convert_tokens_to_ids
    rows = []
    for i in range(6):
        words = ["the", "big", "dog", "ran"] if i % 2 else ["the", "cat", "sat", "on", "mat"]
        rows.append({"input_ids": ids(words), "labels": [1 if i % 2 else 0] * len(words)})
    data = ConceptData(Examples(rows, None), ("other", "dogs"))
    assert distinctive_words(data, tok, n=3, min_count=3) == ["big", "dog", "ran"]
    samples = concept_samples(data, tok, n=2, seed=0)
    assert samples == ["the big dog ran"] * 2  # whole texts are the concept: no brackets


# -- explanations from a file ---------------------------------------------------------------------
def test_explanation_files_accept_both_formats_and_name_the_bad_line(tmp_path):
    good = tmp_path / "explanations.jsonl"
    good.write_text(json.dumps({"layer": 0, "index": 2, "explanation": "insults", "score": 0.4}) + "\n\n" +
                    json.dumps({"layer_index": 1, "neuron_index": 5, "explanations": [
                        {"explanation": "weak", "scored_simulation": {"ev_correlation_score": 0.1}},
                        {"explanation": "swearing", "scored_simulation": {"ev_correlation_score": 0.6}}]}) + "\n")
    table = read_explanations(good)
    assert table[(0, 2)].text == "insults" and table[(0, 2)].score == 0.4
    assert table[(1, 5)].text == "swearing" and table[(1, 5)].score == 0.6
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"layer": 0, "index": 1, "explanation": "x"}) + "\n{not json\n")
    with pytest.raises(DataFormatError, match=r"bad\.jsonl:2: not JSON"):
        read_explanations(bad)
    bad.write_text(json.dumps({"layer": "0", "index": 1, "explanation": "x"}) + "\n")
    with pytest.raises(DataFormatError, match=r"bad\.jsonl:1: needs integer `layer`"):
        read_explanations(bad)


# -- whole methods --------------------------------------------------------------------------------
def test_snip_with_the_hats_backend_prunes_k_units_and_explains_them():
    unlearned = unlearn("snip", tiny_model("llama"), backend="hats", explain_top=20, concepts="a,the")
    info = unlearned.info
    assert unlearned.mask.k == 6
    assert info["candidates"] == 20 and info["pruned_by_ranking"] == 6
    assert info["backend"] == {"backend": "hats", "tokens": 5}
    rows = [json.loads(line) for line in unlearned.files["explanations.jsonl"].splitlines()]
    pruned_rows = [r for r in rows if r["pruned"]]
    assert len(pruned_rows) == 6
    assert all(unlearned.mask.pruned[r["layer"], r["index"]] for r in pruned_rows)
    # SNIP's rule: the pruned units are the most similar to a concept among those explained.
    similarities = sorted((r["similarity"] for r in rows if r["similarity"] is not None), reverse=True)
    assert sorted((r["similarity"] for r in pruned_rows), reverse=True) == similarities[:6]
    assert [u["layer"] for u in info["top_units"]] == [r["layer"] for r in rows[:len(info["top_units"])]]


def test_a_budget_beyond_the_explained_units_prunes_only_what_the_method_ranked():
    unlearned = unlearn("snip", tiny_model("llama"), backend="hats", explain_top=4, concepts="a")
    assert unlearned.k_requested == 6 and unlearned.mask.k == 4
    assert unlearned.info["pruned_by_ranking"] == 4 and unlearned.info["pruned_by_fill"] == 0


def test_filling_the_budget_by_forget_set_activation_is_an_option_the_label_names():
    cls = METHODS.get("snip")
    method = cls(parse_options(cls.Options, {"backend": "hats", "explain_top": 4, "concepts": "a",
                                             "fill": "forget-activation"}, "snip"))
    unlearned = method.unlearn(tiny_model("llama"), context(tiny_model("llama")))
    assert unlearned.mask.k == 6 and unlearned.info["pruned_by_fill"] == 2
    assert method.label("snip", {"backend": "hats", "fill": "forget-activation"}) == \
        "snip [hats, top 4, fill=forget-activation] (ablation: no LLM)"


def test_entry_labels_name_the_explainer_and_the_candidate_prefilter():
    def label(method, **options):
        cls = METHODS.get(method)
        return cls(parse_options(cls.Options, options, method)).label(method, options)

    assert label("snip") == "snip [local, top 256]"
    assert label("snip", explain_top=0) == "snip [local, every unit]"
    assert label("keyword", backend="hats", keywords="toxic") == "keyword [hats, top 256] (keywords=toxic) (ablation: no LLM)"
    assert label("concept-neurons") == "concept-neurons [standardized]"
    assert label("random") == "random"


def test_keyword_without_a_match_fails_naming_the_keywords_and_some_explanations():
    with pytest.raises(BenchError, match=r"none of the \d+ explanations contains any of the keywords zebra.*look like: '"):
        unlearn("keyword", tiny_model("llama"), backend="hats", explain_top=20, keywords="zebra", concepts="a")


def test_the_file_backend_prunes_units_by_their_given_explanations(tmp_path):
    path = tmp_path / "explanations.jsonl"
    lines = [{"layer": layer, "index": index, "explanation": text, "score": score}
             for layer, index, text, score in [(0, 1, "w9 tokens", 0.9), (1, 2, "w9 words", 0.2),
                                               (1, 3, "unrelated", 0.8), (7, 0, "outside the model", 0.1)]]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    unlearned = unlearn("keyword", tiny_model("llama"), backend="file", explanations_file=str(path),
                        keywords="w9", concepts="anything")
    assert unlearned.info["matched_units"] == 2 and unlearned.info["ranked_by"] == "explanation score"
    top = [(u["layer"], u["index"]) for u in unlearned.info["top_units"]]
    assert top == [(0, 1), (1, 2)]  # ranked by the file's scores
    assert unlearned.info["candidates"] == 3  # the unit beyond the model's layers is left out


def test_llm_select_needs_an_llm():
    with pytest.raises(BenchError, match="LLMSelect needs an LLM"):
        unlearn("llm-select", tiny_model("llama"), backend="hats", explain_top=8)


def scripted_llm(messages):
    """Explains a unit by its strongest token; lists concepts; rates units that mention `a` highly."""
    prompt = messages[-1]["content"]
    if "Activations:" in prompt:
        strongest = re.search(r"non-zero only: ([^ ,]+) \((\d+)\)", prompt)
        return f"The main thing this neuron does is find the token {strongest.group(1) if strongest else 'none'}."
    if "themes" in prompt:
        return "Common themes:\n1. the token a\n2. small words"
    return "Rating: 9" if "token a." in prompt else "Rating: 1"


@pytest.fixture
def fake_llm(monkeypatch):
    monkeypatch.setenv("BENCH_TEST_KEY", "sk-test")
    with FakeOpenAI(scripted_llm) as server:
        yield server


def openai_options(server):
    return {"backend": "openai", "base_url": server.base_url, "api_key_env": "BENCH_TEST_KEY", "model": "m",
            "embedder": "openai", "embedder_model": "e", "explain_top": 24}


def test_snip_through_the_openai_backend_records_concepts_cache_use_and_explanations(fake_llm):
    model = tiny_model("llama")
    unlearned = unlearn("snip", model, **openai_options(fake_llm))
    info = unlearned.info
    assert info["concepts"] == ["the token a", "small words"]
    assert info["backend"]["base_url"] == fake_llm.base_url and "sk-test" not in json.dumps(info)
    assert info["llm_cache"]["computed"] > 0 and info["llm_cache"]["hits"] == 0
    keys = unlearned.files["llm_cache_keys.txt"].split()
    assert len(keys) == info["llm_cache"]["entries_used"] and all(len(key) == 64 for key in keys)
    assert all(u["explanation"].startswith("the token ") for u in info["top_units"])
    calls = len(fake_llm.requests)
    again = unlearn("snip", model, **openai_options(fake_llm))  # a rerun is answered from the cache
    assert len(fake_llm.requests) == calls
    assert again.info["llm_cache"]["computed"] == 0 and torch.equal(again.mask.pruned, unlearned.mask.pruned)


def test_llm_select_prunes_the_units_the_llm_rates_highest(fake_llm):
    unlearned = unlearn("llm-select", tiny_model("llama"), **openai_options(fake_llm))
    rows = [json.loads(line) for line in unlearned.files["explanations.jsonl"].splitlines()]
    nines = [r for r in rows if r["rating"] == 9.0]
    assert nines, "the scripted LLM rates units explained by token `a` 9"
    assert all(r["pruned"] for r in nines[:6])
    assert unlearned.info["unparsed_first_reply"] == unlearned.info["unparsed_after_retry"] == 0
    rating_prompts = [r["messages"][-1]["content"] for r in fake_llm.requests if "0 (irrelevant)" in str(r["messages"])]
    assert rating_prompts and all("Examples from a dataset:" in p for p in rating_prompts)  # as the paper's GPT-4 saw


def test_llm_select_does_not_prune_units_the_llm_rated_irrelevant(monkeypatch):
    # With a budget above the rated units, pruning the zeros too would prune the candidate prefilter's choice
    def judge(messages):
        reply = scripted_llm(messages)
        return "Rating: 0" if reply == "Rating: 1" else reply

    monkeypatch.setenv("BENCH_TEST_KEY", "sk-test")
    with FakeOpenAI(judge) as server:
        unlearned = unlearn("llm-select", tiny_model("llama"), **openai_options(server))
    rows = [json.loads(line) for line in unlearned.files["explanations.jsonl"].splitlines()]
    nines = {(r["layer"], r["index"]) for r in rows if r["rating"] == 9.0}
    pruned = {(r["layer"], r["index"]) for r in rows if r["pruned"]}
    assert 0 < len(nines) < unlearned.k_requested and pruned == nines
    assert unlearned.info["rated_irrelevant"] == unlearned.info["rated"] - len(nines)


def test_llm_select_fails_when_it_rates_every_unit_the_same(monkeypatch):
    # A constant rating ranks nothing: the order would be the candidates', which the prefilter chose
    def flat(messages):
        reply = scripted_llm(messages)
        return "Rating: 5" if reply.startswith("Rating:") else reply

    monkeypatch.setenv("BENCH_TEST_KEY", "sk-test")
    with FakeOpenAI(flat) as server, pytest.raises(BenchError, match=r"rated all \d+ units the same \(5\)"):
        unlearn("llm-select", tiny_model("llama"), **openai_options(server))


def test_the_record_counts_the_pruned_units_that_only_the_tie_order_chose():
    ranked = [(0, i) for i in range(6)]
    scores = dict(zip(ranked, [9.0, 8.0, 5.0, 5.0, 5.0, 1.0]))
    assert among_equals_at_the_cut(ranked, scores, k=3) == 1  # one of three fives
    assert among_equals_at_the_cut(ranked, scores, k=5) == 0  # all fives fit
    assert among_equals_at_the_cut(ranked, dict.fromkeys(ranked), k=4) == 4  # unscored keyword matches
    assert among_equals_at_the_cut(ranked, scores, k=6) == 0


def evasive_llm(first_replies_only: bool):
    """Like `scripted_llm`, but its ratings are words; a strict follow-up gets a number unless refused."""
    def reply(messages):
        prompt = messages[-1]["content"]
        if prompt.startswith("That was not a single number"):
            if first_replies_only:
                return "I would say it matters."
            return "7" if "token a." in messages[-3]["content"] else "2"
        if "0 (irrelevant)" in prompt:
            return "Rating: quite important"
        return scripted_llm(messages)
    return reply


def test_llm_select_retries_an_unparsed_rating_with_a_stricter_follow_up(monkeypatch):
    monkeypatch.setenv("BENCH_TEST_KEY", "sk-test")
    with FakeOpenAI(evasive_llm(first_replies_only=False)) as server:
        unlearned = unlearn("llm-select", tiny_model("llama"), **openai_options(server))
    info = unlearned.info
    assert info["unparsed_first_reply"] > 0 and info["unparsed_after_retry"] == 0
    assert info["rating_counts"]["7"] + info["rating_counts"]["2"] == info["unparsed_first_reply"]


def test_llm_select_fails_when_more_than_a_tenth_of_ratings_stay_unparsed(monkeypatch):
    monkeypatch.setenv("BENCH_TEST_KEY", "sk-test")
    with FakeOpenAI(evasive_llm(first_replies_only=True)) as server:
        with pytest.raises(BenchError, match=r"ratings held no integer 0–10 even after a stricter retry.*'I would say"):
            unlearn("llm-select", tiny_model("llama"), **openai_options(server))
