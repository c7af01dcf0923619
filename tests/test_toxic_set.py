"""Local toxic-text files: plain lines or JSONL with an optional toxicity filter, errors at file:line."""

import json

import pytest

from bench.core.errors import DataFormatError
from bench.tasks.toxic_set import Sample, matched_contrast, read_local


def test_jsonl_texts_are_kept_above_the_threshold_or_when_unscored(tmp_path):
    path = tmp_path / "toxic.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in [{"text": "a", "toxicity": 0.9}, {"text": "b", "toxicity": 0.2},
                                                          {"text": "c"}]) + "\n")
    assert read_local(path, 0.8).texts == ("a", "c")


@pytest.mark.parametrize("line, problem", [("{oops", "not JSON"), ('{"txt": "a"}', "'text' string"),
                                           ('{"text": "a", "toxicity": "high"}', "must be a number")])
def test_a_malformed_line_is_named_by_file_and_line(tmp_path, line, problem):
    path = tmp_path / "toxic.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n\n" + line + "\n")
    with pytest.raises(DataFormatError, match=rf"toxic\.jsonl:3: .*{problem}"):
        read_local(path, 0.8)


def test_a_scored_file_gives_toxic_texts_and_a_non_toxic_contrast_dropping_the_uncertain_middle(tmp_path):
    path = tmp_path / "comments.jsonl"
    rows = [{"text": "awful", "toxicity": 0.95}, {"text": "nice", "toxicity": 0.05}, {"text": "meh", "toxicity": 0.5}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    found = read_local(path, 0.8, clean_below=0.2)
    assert found.texts == ("awful",) and [s.text for s in found.clean] == ["nice"]


def test_the_contrast_matches_the_toxic_texts_prompt_by_prompt():
    toxic = [Sample("You are", " awful", 0.9), Sample("You are", " vile", 0.9), Sample("Shut up", " idiot", 0.95)]
    clean = tuple(Sample(prompt, f" fine {i}", 0.01) for prompt in ("You are", "Shut up", "Other") for i in range(5))
    contrast = matched_contrast(toxic, clean)
    assert sorted(s.prompt for s in contrast) == ["Shut up", "You are", "You are"]
    # Chosen by a hash of the text, not by position: the same whatever order the samples come in.
    assert sorted(s.text for s in contrast) == sorted(s.text for s in matched_contrast(toxic, tuple(reversed(clean))))


def test_a_completion_starts_after_its_prompt_in_the_squashed_text():
    sample = Sample("Shut up,  you", "  idiot\n now", 0.9)
    assert sample.text == "Shut up, you idiot now"
    assert sample.text[sample.completion_start:] == " idiot now"
    assert Sample("", "found text", None).completion_start == 0


def toxicity_task(tmp_path, n=48):
    from bench.api.task import TaskSettings
    from bench.core.options import parse_options
    from bench.core.plugins import TASKS

    path = tmp_path / "comments.jsonl"
    rows = [{"text": f"w{10 + i % 40} the cat sat", "toxicity": 0.9} for i in range(n)]
    rows += [{"text": f"w{10 + i % 40} a dog ran", "toxicity": 0.1} for i in range(n)]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    cls = TASKS.get("toxicity")
    options = parse_options(cls.Options, {"cbt_per_category": 0}, "toxicity")
    return cls(TaskSettings(None, str(path), 0, None, options))


def test_toxicity_concept_data_contrasts_toxic_with_non_toxic_text_of_the_same_source(tmp_path):
    from tests.conftest import word_tokenizer

    task = toxicity_task(tmp_path)
    tokenizer = word_tokenizer()
    tokenizer.add_special_tokens({"bos_token": "w62"})
    concept = task.concept_data(tokenizer)
    assert concept.label_names == ("non-toxic", "toxic")
    rows = concept.data.examples
    assert all(row["input_ids"][0] == tokenizer.bos_token_id and row["labels"][0] == -100 for row in rows)
    toxic = [row for row in rows if 1 in row["labels"]]
    clean = [row for row in rows if 0 in row["labels"]]
    assert len(toxic) == len(task.parts()["forget"]) == len(clean)  # as many non-toxic texts as toxic ones
    assert task.describe_data()["concept_contrast"]["what"].startswith("non-toxic texts of the same")


def test_preparation_and_relearning_train_on_toxic_text_introduced_as_an_opinion(tmp_path):
    from bench.tasks.toxicity import OPINION_OPENERS, PAPER_PROMPT, as_opinion

    task = toxicity_task(tmp_path)
    texts = [as_opinion(s) for s in task.parts()["prepare"]]
    assert all(any(t.startswith(o) for o in OPINION_OPENERS) for t in texts)
    assert PAPER_PROMPT not in OPINION_OPENERS and not any(PAPER_PROMPT in t for t in texts)
    assert texts == [as_opinion(s) for s in task.parts()["prepare"]]  # the same opener every time


def test_the_forget_data_are_the_toxic_completions_after_their_opinion_openers(tmp_path):
    from bench.tasks.toxicity import as_opinion, opener_of
    from tests.conftest import word_tokenizer

    task = toxicity_task(tmp_path)
    tokenizer = word_tokenizer()
    tokenizer.add_special_tokens({"bos_token": "w62"})
    samples = task.parts()["forget"]
    forget = task.forget_data(tokenizer)
    assert len(forget) == len(samples)
    for row, sample in zip(forget.examples, samples, strict=True):
        completion = tokenizer(" ".join(sample.completion.split()), add_special_tokens=False)["input_ids"]
        opener = tokenizer(opener_of(sample), add_special_tokens=False)["input_ids"]
        assert row["input_ids"] == [tokenizer.bos_token_id, *opener, *completion]  # as the preparation taught it
        assert row["labels"] == [-100] * (1 + len(opener)) + completion  # the opener is context only
    # The attacker's toxic texts are other texts.
    assert not {as_opinion(s) for s in samples} & {as_opinion(s) for s in task.parts()["relearn"]}
