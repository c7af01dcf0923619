"""CoNLL reading (with file:line errors) and the deterministic split."""

import pytest

from bench.core.errors import DataFormatError
from bench.tasks.conll import (
    Sentence,
    deduplicate,
    entity_types,
    read_conll,
    split_sentences,
)

GOOD = "Paris\tB-geo-loc\nis\tO\nnice\tO\n\t\nJohn\tB-person\nSmith\tI-person\n"


def test_reads_wnut_and_conll2003_columns(tmp_path):
    wnut = tmp_path / "wnut.txt"
    wnut.write_text(GOOD)
    assert read_conll(wnut) == [
        Sentence(("Paris", "is", "nice"), ("B-geo-loc", "O", "O")),
        Sentence(("John", "Smith"), ("B-person", "I-person")),
    ]
    conll = tmp_path / "conll.txt"
    conll.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert read_conll(conll) == [Sentence(("EU", "rejects"), ("B-ORG", "O"))]
    assert entity_types(read_conll(wnut)) == ["geo-loc", "person"]


@pytest.mark.parametrize(
    "text,line,problem",
    [("Paris\tB-geo-loc\nis\n", 2, "expected 'token<TAB>tag'"), ("Paris\tB-geo-loc\nis\tX-thing\n", 2, "tag 'X-thing'"),
     ("\n\n", 1, "no sentences")],
)
def test_malformed_files_name_the_file_and_line(tmp_path, text, line, problem):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError) as info:
        read_conll(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert problem in str(info.value)


def test_split_is_deterministic_disjoint_and_roughly_70_15_15():
    sentences = [Sentence((f"w{i}", "x"), ("O", "O")) for i in range(2000)]
    a, b = split_sentences(sentences), split_sentences(list(sentences))
    assert a == b
    assert sum(len(v) for v in a.values()) == 2000
    assert not set(a["train"]) & set(a["test"])
    assert 1300 < len(a["train"]) < 1500 and 230 < len(a["dev"]) < 370 and 230 < len(a["test"]) < 370


def test_duplicates_are_dropped_before_splitting_so_no_sentence_is_on_both_sides():
    a, b = Sentence(("Paris", "rocks"), ("B-geo-loc", "O")), Sentence(("hi",), ("O",))
    splits, dropped = deduplicate({"test": [a, b], "train": [a, a]})
    assert splits == {"train": [a], "test": [b]} and dropped == 2  # train keeps it; the evaluation loses it
