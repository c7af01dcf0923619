"""A silver-labelled NER corpus in CoNLL format, built offline from the news and Wikipedia text the assets ship.

WNUT-16 (the other offline NER set) is 2,394 tweets with 89 location entities to evaluate on: the target's
95% half-width at the base model is ± 0.09–0.10 there, too coarse to tell methods apart. This corpus is news
(gensim's Lee corpus, the kind of text the paper's CoNLL-2003 protocol uses) and Wikipedia paragraphs, tagged
by spaCy's en_core_web_md pipeline (OntoNotes types). Its labels are *silver*: a model's, not a person's; the
task's record and page say so and by which model.

Only the types that name something are kept (PERSON, GPE, LOC, ORG, NORP, ...); spaCy's value types (DATE,
CARDINAL, MONEY, ...) become O, as in CoNLL-2003, which tags names only. Splits go by document (a news
article or a Wikipedia paragraph): a document's sentences are all training or all evaluation sentences, so
an evaluation entity is not one the model saw a sentence earlier (CoNLL-2003 also splits by document). The
corpus is written once as a CoNLL folder (train/dev/test) under the hash of its recipe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.core import assets
from bench.core.files import write_text_atomic
from bench.core.progress import progress_bar
from bench.tasks.conll import Sentence, deduplicate, read_folder

# OntoNotes types that name something; the value types (DATE, TIME, PERCENT, MONEY, QUANTITY, ORDINAL,
# CARDINAL) are not entities in the CoNLL sense and are tagged O.
NAME_TYPES = ("PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE")
SPLITS = ("train", "dev", "test")


def tagger_version() -> str:
    """The installed spaCy pipeline's name and version, read from its meta.json (no model load): the corpus is
    rebuilt when the tagger changes."""
    meta = json.loads((assets.require("en_core_web_md", kind="model") / "meta.json").read_text(encoding="utf-8"))
    return f"{meta.get('lang', 'en')}_{meta['name']} {meta['version']}"


@dataclass(frozen=True)
class SilverRecipe:
    """Everything the corpus depends on; its hash names the cached folder."""

    tagger: str
    news_documents: int = 300  # the Lee corpus has 300 documents: all of them
    wikipedia_paragraphs: int = 400  # spread over the 206 articles of the shortened dump
    types: tuple[str, ...] = NAME_TYPES
    words: tuple[int, int] = (5, 60)  # a sentence outside this many tokens is left out (headlines, run-ons)
    split_percent: tuple[int, int] = (55, 20)  # train, dev (the rest is test), by a hash of the document
    version: int = 1

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _bucket(document: str, percent: tuple[int, int]) -> str:
    value = int.from_bytes(hashlib.sha256(document.encode()).digest()[:8], "big") % 100
    return "train" if value < percent[0] else "dev" if value < percent[0] + percent[1] else "test"


def tag_documents(nlp, documents: list[str], recipe: SilverRecipe) -> list[list[Sentence]]:
    """Each document's sentences, as tokens with BIO tags of the kept types (whitespace tokens dropped)."""
    kept = set(recipe.types)
    out: list[list[Sentence]] = []
    for doc in progress_bar(nlp.pipe(documents, batch_size=32), "tag the silver NER corpus", total=len(documents)):
        sentences = []
        for sent in doc.sents:
            tokens, tags = [], []
            for token in sent:
                if token.is_space:
                    continue
                tokens.append(token.text)
                named = token.ent_type_ in kept
                tags.append(f"{token.ent_iob_}-{token.ent_type_}" if named and token.ent_iob_ in "BI" else "O")
            # An entity that a dropped whitespace token split, or that starts mid-sentence, opens with B-.
            tags = [f"B-{tag[2:]}" if tag.startswith("I-") and (i == 0 or tags[i - 1][2:] != tag[2:]) else tag
                    for i, tag in enumerate(tags)]
            if recipe.words[0] <= len(tokens) <= recipe.words[1] and any(t.isalpha() for t in tokens):
                sentences.append(Sentence(tuple(tokens), tuple(tags)))
        out.append(sentences)
    return out


def build_silver(recipe: SilverRecipe, folder: Path) -> Path:
    """Tag the documents and write train/dev/test CoNLL files (and the recipe) into `folder`, once."""
    if (folder / "recipe.json").exists():
        return folder
    from bench.tasks.cloze import load_tagger
    from bench.tasks.text_sources import lee_documents, spread, wikipedia_paragraphs

    documents = lee_documents()[:recipe.news_documents] + spread(wikipedia_paragraphs(), recipe.wikipedia_paragraphs)
    tagged = tag_documents(load_tagger(), documents, recipe)
    splits: dict[str, list[Sentence]] = {name: [] for name in SPLITS}
    for document, sentences in zip(documents, tagged, strict=True):
        splits[_bucket(document, recipe.split_percent)] += sentences
    splits, dropped = deduplicate(splits)
    folder.mkdir(parents=True, exist_ok=True)
    for name, sentences in splits.items():
        lines = ["\n".join(f"{t}\t{g}" for t, g in zip(s.tokens, s.tags, strict=True)) + "\n" for s in sentences]
        write_text_atomic(folder / f"{name}.conll", "\n".join(lines))
    info = {"recipe": asdict(recipe), "documents": len(documents), "duplicates_dropped": dropped,
            "sentences": {name: len(s) for name, s in splits.items()}}
    # Written last: its presence says the folder is complete.
    write_text_atomic(folder / "recipe.json", json.dumps(info, indent=1) + "\n")
    return folder


def silver_corpus(cache: Path, recipe: SilverRecipe | None = None) -> tuple[dict[str, list[Sentence]], dict]:
    """The corpus's splits and its recipe (built on first use)."""
    recipe = recipe or SilverRecipe(tagger=tagger_version())
    folder = build_silver(recipe, cache / f"ner-silver-{recipe.key()}")
    return read_folder(folder), json.loads((folder / "recipe.json").read_text(encoding="utf-8"))
