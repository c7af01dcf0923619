"""The CBT question format: readers with file:line errors, and the deterministic offline builder."""

import json

import pytest

from bench.core.errors import DataFormatError
from bench.tasks.cbt import first_per_category
from bench.tasks.cloze import (
    BLANK,
    BuildRecipe,
    ClozeQuestion,
    TaggedSentence,
    build_questions,
    read_cbt_text,
    read_jsonl,
)
from bench.tasks.toxic_set import read_local, split_three

NAMES = "Anna Ben Carl Dora Emil Fay Gus Hana Ivo Jan Kim Lea".split()
VERBS = "walked ran went came rode drove flew hurried moved strolled wandered raced".split()
PLACES = "market river garden house church field road town shop park hill lake".split()


def tagged(i: int) -> TaggedSentence:
    """A sentence with one word of each kind, different words in different sentences."""
    name, verb, place = NAMES[i % 12], VERBS[(i * 5) % 12], PLACES[(i * 7) % 12]
    preposition = ("to", "from", "past", "near", "into", "over", "under", "beside", "behind", "across", "through",
                   "along")[(i * 11) % 12]
    text = f"{name} {verb} {preposition} the {place} today"
    at = [0, len(name) + 1, len(name) + len(verb) + 2]
    at.append(at[2] + len(preposition) + 5)
    spans = {"NE": [(at[0], at[0] + len(name))], "V": [(at[1], at[1] + len(verb))],
             "P": [(at[2], at[2] + len(preposition))], "CN": [(at[3], at[3] + len(place))]}
    return TaggedSentence(text, spans)


def test_the_builder_blanks_a_word_of_each_category_with_ten_options_and_is_deterministic():
    sentences = [tagged(i) for i in range(42)]
    recipe = BuildRecipe(per_category=1, max_context_words=1000, query_words=(3, 50), novels=("x",))
    built = build_questions(sentences, recipe, "book")
    assert build_questions(sentences, recipe, "book") == built
    for category, questions in built.items():
        assert len(questions) == 2  # two windows of 21 sentences
        for q in questions:
            assert len(q.sentences) == 20 and q.question.count(BLANK) == 1
            assert len(q.options) == 10 == len(set(o.lower() for o in q.options)) and q.answer in q.options
            assert q.filled(q.answer) in (sentences[20].text, sentences[41].text)


def test_jsonl_questions_are_checked_with_file_and_line(tmp_path):
    good = {"sentences": ["a."] * 20, "question": "b XXXXX c", "answer": "x", "options": ["x", "y"], "category": "V"}
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "answer": "z"}) + "\n")
    with pytest.raises(DataFormatError, match=r"q.jsonl:2.*not among the options"):
        read_jsonl(path)
    path.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(DataFormatError, match=r"q.jsonl:2"):
        read_jsonl(path)


def test_the_original_cbt_text_format_is_read(tmp_path):
    lines = [f"{i} Sentence number {i} ." for i in range(1, 21)]
    lines.append("21 The XXXXX sat down .\tcat\t\tcat|dog|man")
    path = tmp_path / "cbtest_CN_test_2500ex.txt"
    path.write_text("\n".join(lines) + "\n\n" + "\n".join(lines) + "\n")
    questions = read_cbt_text(path, "CN")
    assert len(questions) == 2 and questions[0].options == ("cat", "dog", "man") and len(questions[0].sentences) == 20


def test_evaluation_subsets_take_whole_passages_first():
    a, b = ("a.",) * 20, ("b.",) * 20
    qs = [ClozeQuestion(a, "XXXXX", "x", ("x",), "V"), ClozeQuestion(b, "XXXXX", "x", ("x",), "V"),
          ClozeQuestion(a, "XXXXX", "x", ("x",), "NE")]
    assert [q.sentences[0] for q in first_per_category(qs, 1)] == ["a.", "a."]


def test_the_target_category_can_keep_every_question_while_the_others_are_capped_and_none_is_dropped():
    qs = [ClozeQuestion((f"{i}.",) * 20, "XXXXX", "x", ("x",), c) for i in range(6) for c in ("V", "P", "NE")]
    chosen = first_per_category(qs, None, {"P": 2, "NE": 1})
    counts = {c: sum(q.category == c for q in chosen) for c in ("V", "P", "NE")}
    assert counts == {"V": 6, "P": 2, "NE": 1}


def test_toxic_parts_are_disjoint_stable_and_cover_everything():
    texts = tuple(f"text {i}" for i in range(400))
    parts = split_three(texts)
    assert sorted(sum(parts.values(), [])) == sorted(texts)
    assert 150 < len(parts["prepare"]) < 250
    assert split_three(texts[:200])["forget"] == [t for t in parts["forget"] if t in texts[:200]]


def test_a_local_toxic_file_keeps_texts_above_the_threshold_and_reports_bad_lines(tmp_path):
    path = tmp_path / "toxic.jsonl"
    path.write_text('{"text": "bad", "toxicity": 0.9}\n{"text": "fine", "toxicity": 0.1}\n')
    assert read_local(path, 0.8).texts == ("bad",)
    path.write_text('{"text": "bad"}\n["no"]\n')
    with pytest.raises(DataFormatError, match="toxic.jsonl:2"):
        read_local(path, 0.8)
