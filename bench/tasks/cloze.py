"""Children's Book Test data: the question format, readers for the hub / local files, and the offline
builder that makes CBT-format questions from public-domain novels with a POS/NER tagger.

A question (Hill et al. 2016): 20 context sentences, a 21st with one word replaced by XXXXX, and 10
candidate words of the removed word's kind: V (verbs), P (prepositions), CN (common nouns), NE (named
entities). The JSONL format here uses the hub's field names: sentences, question, answer, options, plus
category.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.api.data import jsonl_objects
from bench.core.errors import BenchError, DataFormatError
from bench.core.files import write_text_atomic
from bench.core.progress import progress_bar

CATEGORIES = ("V", "P", "CN", "NE")
BLANK = "XXXXX"
CONTEXT_SENTENCES = 20
N_OPTIONS = 10
# OntoNotes entity types that name something (numbers, dates and the like are not CBT's named entities).
NAMED_TYPES = ("PERSON", "GPE", "LOC", "ORG", "NORP", "FAC", "WORK_OF_ART", "EVENT", "PRODUCT")


@dataclass(frozen=True)
class ClozeQuestion:
    sentences: tuple[str, ...]
    question: str  # the 21st sentence with BLANK where the answer was
    answer: str
    options: tuple[str, ...]
    category: str

    def filled(self, word: str) -> str:
        before, after = self.question.split(BLANK, 1)
        if not before.strip() and self.category != "NE":
            word = word[:1].upper() + word[1:]  # sentence-initial: every option gets the capital, not only the answer
        return before + word + after

    def split_query(self) -> tuple[str, str]:
        """(prefix, text after the blank) as continuations of the context (which ends without a space)."""
        before, after = self.question.split(BLANK, 1)
        return before, after

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def _question_from(raw: dict, path: str, line: int, category: str | None) -> ClozeQuestion:
    try:
        q = ClozeQuestion(tuple(raw["sentences"]), raw["question"], raw["answer"], tuple(raw["options"]),
                          raw.get("category", category))
    except (KeyError, TypeError) as exc:
        raise DataFormatError(path, line, f"not a cloze question ({exc}); need sentences, question, answer, options") from None
    if q.category not in CATEGORIES:
        raise DataFormatError(path, line, f"category {q.category!r} is not one of {', '.join(CATEGORIES)}")
    if BLANK not in q.question:
        raise DataFormatError(path, line, f"the question has no {BLANK}")
    if q.answer not in q.options:
        raise DataFormatError(path, line, f"the answer {q.answer!r} is not among the options")
    return q


def read_jsonl(path: Path, category: str | None = None) -> list[ClozeQuestion]:
    return [_question_from(raw, str(path), number, category) for number, raw in jsonl_objects(path)]


def read_cbt_text(path: Path, category: str) -> list[ClozeQuestion]:
    """The original CBT files: numbered lines 1-20, then `21 question<TAB>answer<TAB><TAB>opt|opt|...`."""
    questions, sentences, first_line = [], [], 1
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        head, _, text = line.partition(" ")
        if not head.isdigit():
            raise DataFormatError(str(path), number, "expected a line number at the start of the line")
        if head == "1":
            sentences, first_line = [], number
        if head != "21":
            sentences.append(text)
            continue
        fields = text.split("\t")
        if len(fields) < 4:
            raise DataFormatError(str(path), number, "line 21 needs question, answer, (empty) and options")
        raw = {"sentences": sentences, "question": fields[0], "answer": fields[1],
               "options": [o for o in fields[3].split("|") if o]}
        questions.append(_question_from(raw, str(path), first_line, category))
    return questions


def load_hub(dataset: str, category: str, split: str) -> list[ClozeQuestion]:
    import datasets

    rows = datasets.load_dataset(dataset, category, split=split)
    return [_question_from(dict(row), f"{dataset}/{category}/{split} row", i, category) for i, row in enumerate(rows)]


# -- the offline builder ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildRecipe:
    """Everything the offline question set depends on; its hash names the cached file."""

    per_category: int = 120
    max_context_words: int = 450  # Austen's sentences are long; this keeps a question within ~650 tokens
    query_words: tuple[int, int] = (6, 50)
    tagger: str = "en_core_web_md 3.8.0"
    novels: tuple[str, ...] = ()
    version: int = 1

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence with the character spans of the words of each category."""

    text: str
    spans: dict[str, list[tuple[int, int]]]


def load_tagger():
    import spacy

    from bench.core import assets

    # The lemmatizer is not needed and needs lookups we do not ship; the parser gives sentence boundaries.
    return spacy.load(assets.require("en_core_web_md", kind="model"), exclude=["lemmatizer"])


def _category(token) -> str | None:
    if not token.is_alpha:
        return None
    if token.ent_type_ in NAMED_TYPES and token.text[:1].isupper():
        return "NE"
    if token.ent_type_:
        return None
    return {"VERB": "V", "ADP": "P", "NOUN": "CN"}.get(token.pos_)


def tag_paragraphs(nlp, texts: list[str], description: str) -> Iterator[TaggedSentence]:
    for doc in progress_bar(nlp.pipe(texts, batch_size=32), description, total=len(texts)):
        for sent in doc.sents:
            spans: dict[str, list[tuple[int, int]]] = {c: [] for c in CATEGORIES}
            for token in sent:
                kind = _category(token)
                if kind is not None:
                    start = token.idx - sent.start_char
                    spans[kind].append((start, start + len(token.text)))
            yield TaggedSentence(sent.text, spans)


def _word(sentence: TaggedSentence, span: tuple[int, int], category: str) -> str:
    word = sentence.text[span[0]:span[1]]
    return word if category == "NE" else word.lower()


def build_questions(sentences: list[TaggedSentence], recipe: BuildRecipe, book: str) -> dict[str, list[ClozeQuestion]]:
    """Non-overlapping windows of 21 sentences → at most one question per category per window.

    The blank is a word of the category in sentence 21; the 9 distractors are other words of that category
    from the 20 context sentences (as in CBT), topped up from the book's most frequent words of the
    category when the context has fewer. Choices come from a generator seeded by book, window and category.
    """
    pool = {c: [w for w, _ in Counter(_word(s, sp, c) for s in sentences for sp in s.spans[c]).most_common(300)]
            for c in CATEGORIES}
    out: dict[str, list[ClozeQuestion]] = {c: [] for c in CATEGORIES}
    low, high = recipe.query_words
    for window in range(len(sentences) // (CONTEXT_SENTENCES + 1)):
        chunk = sentences[window * (CONTEXT_SENTENCES + 1):(window + 1) * (CONTEXT_SENTENCES + 1)]
        context, query = chunk[:-1], chunk[-1]
        if sum(len(s.text.split()) for s in context) > recipe.max_context_words:
            continue
        if not low <= len(query.text.split()) <= high or BLANK in query.text:
            continue
        for category in CATEGORIES:
            if not query.spans[category]:
                continue
            rng = random.Random(f"{book}/{window}/{category}")
            span = rng.choice(query.spans[category])
            answer = _word(query, span, category)
            seen = {answer.lower()}
            distractors = []
            for word in [_word(s, sp, category) for s in context for sp in s.spans[category]]:
                if word.lower() not in seen:
                    seen.add(word.lower())
                    distractors.append(word)
            rng.shuffle(distractors)
            distractors = distractors[:N_OPTIONS - 1]
            extra = [w for w in pool[category] if w.lower() not in seen]
            missing = N_OPTIONS - 1 - len(distractors)
            if missing > len(extra):
                continue  # not enough words of this kind in the whole book: no question
            distractors += rng.sample(extra, missing) if missing > 0 else []
            options = [answer, *distractors]
            rng.shuffle(options)
            question = query.text[:span[0]] + BLANK + query.text[span[1]:]
            out[category].append(ClozeQuestion(tuple(s.text for s in context), question, answer, tuple(options), category))
    return out


def build_offline(recipe: BuildRecipe, cache: Path) -> list[ClozeQuestion]:
    """CBT-format questions from the evaluation novels, built once and cached under the recipe's hash."""
    from bench.tasks.text_sources import austen_novels, paragraphs

    if cache.exists():
        return read_jsonl(cache)
    nlp = load_tagger()
    novels = austen_novels()
    chosen: dict[str, list[ClozeQuestion]] = {c: [] for c in CATEGORIES}
    for book in recipe.novels:
        sentences = list(tag_paragraphs(nlp, paragraphs(novels[book]), f"tag {book}"))
        for category, questions in build_questions(sentences, recipe, book).items():
            chosen[category] += questions
        if all(len(q) >= recipe.per_category for q in chosen.values()):
            break
    short = {c: len(q) for c, q in chosen.items() if len(q) < recipe.per_category}
    if short:
        raise BenchError(f"the novels gave too few questions for {short}; lower per_category")
    questions = [q for c in CATEGORIES for q in chosen[c][:recipe.per_category]]
    write_text_atomic(cache, "".join(q.to_json() + "\n" for q in questions))
    return questions


def tagged_training_text(novels: tuple[str, ...], n_sentences: int, cache: Path) -> list[TaggedSentence]:
    """The first n sentences of the training novels with category spans (concept data, relearning text)."""
    from bench.tasks.text_sources import austen_novels, paragraphs

    if cache.exists():
        rows = [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines()]
        return [TaggedSentence(r["text"], {c: [tuple(s) for s in r["spans"][c]] for c in CATEGORIES}) for r in rows]
    nlp = load_tagger()
    out: list[TaggedSentence] = []
    for book in novels:
        texts = paragraphs(austen_novels()[book])
        # Tag paragraph by paragraph and stop as soon as there are enough sentences.
        for sentence in tag_paragraphs(nlp, texts, f"tag {book}"):
            out.append(sentence)
            if len(out) >= n_sentences:
                break
        if len(out) >= n_sentences:
            break
    write_text_atomic(cache, "".join(json.dumps({"text": s.text, "spans": s.spans}) + "\n" for s in out))
    return out
