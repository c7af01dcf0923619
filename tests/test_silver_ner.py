"""The silver NER corpus: built deterministically from the offline news and Wikipedia text by spaCy, split by
document, name types only, a valid CoNLL folder that the NER task reads (a small recipe: the full one is the
same code on more documents)."""

import dataclasses

import pytest

from bench.tasks.conll import entity_types, read_folder
from bench.tasks.silver_ner import (
    NAME_TYPES,
    SilverRecipe,
    build_silver,
    silver_corpus,
    tagger_version,
)
from tests.conftest import needs_assets

pytestmark = needs_assets


@pytest.fixture(scope="module")
def recipe():
    return SilverRecipe(tagger=tagger_version(), news_documents=12, wikipedia_paragraphs=8, split_percent=(50, 25))


def test_the_corpus_is_the_same_when_built_twice(tmp_path, recipe):
    first, second = build_silver(recipe, tmp_path / "a"), build_silver(recipe, tmp_path / "b")
    for name in ("train.conll", "dev.conll", "test.conll", "recipe.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    # Another recipe is another folder name (the cache key), never a stale copy of this one.
    assert dataclasses.replace(recipe, wikipedia_paragraphs=9).key() != recipe.key()


def test_splits_share_no_sentence_and_no_document(tmp_path, recipe):
    splits, info = silver_corpus(tmp_path, recipe)
    assert set(splits) == {"train", "dev", "test"} and all(splits.values())
    sentences = {name: {s.tokens for s in split} for name, split in splits.items()}
    assert not sentences["train"] & sentences["dev"] and not sentences["train"] & sentences["test"]
    assert not sentences["dev"] & sentences["test"]
    assert info["sentences"] == {name: len(split) for name, split in splits.items()}
    # Split by document: the first news document's sentences all land in one split.
    from bench.tasks.silver_ner import _bucket
    from bench.tasks.text_sources import lee_documents

    assert {_bucket(lee_documents()[0], recipe.split_percent)} == {
        name for name, split in splits.items() if any(s.tokens[:3] == ("Hundreds", "of", "people") for s in split)}


def test_only_name_types_in_well_formed_bio(tmp_path, recipe):
    splits, _ = silver_corpus(tmp_path, recipe)
    everything = [s for split in splits.values() for s in split]
    assert set(entity_types(everything)) <= set(NAME_TYPES) and "GPE" in entity_types(everything)
    for sentence in everything:
        assert recipe.words[0] <= len(sentence.tokens) <= recipe.words[1]
        for i, tag in enumerate(sentence.tags):
            if tag.startswith("I-"):  # an I- continues an entity of its own type
                assert sentence.tags[i - 1][2:] == tag[2:], sentence
    # Values are not names: no DATE or CARDINAL survives as a tag.
    assert not {"DATE", "CARDINAL", "MONEY", "PERCENT"} & set(entity_types(everything))


def test_the_folder_reads_back_as_conll(tmp_path, recipe):
    folder = build_silver(recipe, tmp_path / "c")
    splits = read_folder(folder)
    assert sum(len(s) for s in splits.values()) == sum(silver_corpus(tmp_path / "d", recipe)[1]["sentences"].values())
