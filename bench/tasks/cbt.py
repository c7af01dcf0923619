"""The Children's Book Test, zero-shot: remove one word category (verbs, prepositions, common nouns or
named entities); the other categories and perplexity on general English are the retain metrics."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.api.data import ConceptData, Examples
from bench.api.evaluation import Evaluation, Statistic
from bench.api.task import EvalSettings, MetricSpec, Task, TaskSettings
from bench.core.errors import BenchError, UnknownNameError
from bench.core.paths import subdir
from bench.core.plugins import TASKS
from bench.models.loading import HeadSpec
from bench.tasks.causal_lm import (
    ChoiceItem,
    concept_targets,
    language_modelling,
    lm_examples,
    option_log_likelihoods,
    span_labelled,
    window_nll,
)
from bench.tasks.cloze import (
    CATEGORIES,
    BuildRecipe,
    ClozeQuestion,
    TaggedSentence,
    build_offline,
    load_hub,
    load_tagger,
    read_cbt_text,
    read_jsonl,
    tag_paragraphs,
    tagged_training_text,
)
from bench.tasks.text_sources import (
    EVAL_NOVELS,
    TRAIN_NOVELS,
    lee_documents,
    spread,
    wikipedia_paragraphs,
)

CATEGORY_NAMES = {"V": "verbs", "P": "prepositions", "CN": "common nouns", "NE": "named entities"}


def choice_item(question: ClozeQuestion, demonstrations: Sequence[str] = ()) -> ChoiceItem:
    """The 20 sentences are shared by every question asked about the same passage; each option is the
    candidate word plus the rest of the query, so the likelihood compared is that of the filled-in query
    (the text before the blank is the same for every option). `demonstrations` (the in-context attack's
    examples) come before the passage, a paragraph of their own."""
    shared = " ".join(question.sentences)
    if demonstrations:
        shared = " ".join(demonstrations) + "\n\n" + shared
    before, after = question.split_query()
    if not before.strip():
        return ChoiceItem(shared, "", tuple(" " + question.filled(o)[len(before):] for o in question.options))
    if before[-1].isspace():
        return ChoiceItem(shared, " " + before.rstrip(), tuple(" " + o + after for o in question.options))
    return ChoiceItem(shared, " " + before, tuple(o + after for o in question.options))


def cloze_correct(model: nn.Module, tokenizer, questions: Sequence[ClozeQuestion],
                  autocast_dtype: torch.dtype | None, description: str = "cbt",
                  demonstrations: Callable[[ClozeQuestion], Sequence[str]] = lambda q: ()) -> list[bool]:
    """For every question (in order): did the answer get the highest likelihood of the ten (ties are wrong)?
    `demonstrations`: the examples shown in front of a question's passage (none by default)."""
    items = [choice_item(q, demonstrations(q)) for q in questions]
    likelihoods = option_log_likelihoods(model, tokenizer, items, autocast_dtype, description)
    right = []
    for question, scores in zip(questions, likelihoods, strict=True):
        best = max(scores)
        answer = question.options.index(question.answer)
        right.append(scores[answer] == best and scores.count(best) == 1)
    return right


def question_columns(questions: Sequence[ClozeQuestion], correct: Sequence[bool], categories: Sequence[str],
                     prefix: str = "") -> tuple[dict[str, list[float]], dict[str, Statistic]]:
    """The `questions` sample (one row per question: asked / correct per category) and the accuracy of each
    category and of all: a category with no question is undefined, never 0."""
    columns: dict[str, list[float]] = {}
    statistics: dict[str, Statistic] = {}
    for c in [*categories, "all"]:
        asked = [float(c == "all" or q.category == c) for q in questions]
        columns[f"asked:{c}"] = asked
        columns[f"correct:{c}"] = [a * float(ok) for a, ok in zip(asked, correct, strict=True)]
        statistics[f"{prefix}accuracy/{c}"] = Statistic("questions", "ratio", (f"correct:{c}", f"asked:{c}"))
    return columns, statistics


def first_per_category(questions: Sequence[ClozeQuestion], n: int | None,
                       per_category: dict[str, int | None] | None = None) -> list[ClozeQuestion]:
    """The first n questions of each category, taken passage by passage: questions about the same passage
    share its forward pass, so a subset of whole passages costs far less than the same number scattered.
    Every category keeps its questions (a subset never drops one)."""
    first_seen: dict[tuple[str, ...], int] = {}
    for q in questions:
        first_seen.setdefault(q.sentences, len(first_seen))
    counts: dict[str, int] = {}
    out = []
    for q in sorted(questions, key=lambda q: first_seen[q.sentences]):  # stable: file order within a passage
        limit = (per_category or {}).get(q.category, n)
        if limit is None or counts.get(q.category, 0) < limit:
            counts[q.category] = counts.get(q.category, 0) + 1
            out.append(q)
    return out


def offline_questions(per_category: int) -> tuple[list[ClozeQuestion], BuildRecipe]:
    recipe = BuildRecipe(per_category=per_category, novels=EVAL_NOVELS)
    return build_offline(recipe, subdir("datasets") / f"cbt-austen-{recipe.key()}.jsonl"), recipe


def training_sentences(n: int) -> list[TaggedSentence]:
    """Tagged sentences from the novels the questions do not come from (concept data, relearning text)."""
    return tagged_training_text(TRAIN_NOVELS, n, subdir("datasets") / f"austen-train-{'-'.join(TRAIN_NOVELS)}-{n}.jsonl")


def passages(sentences: Sequence[str], per_passage: int) -> list[str]:
    return [" ".join(sentences[i:i + per_passage]) for i in range(0, len(sentences), per_passage)]


def texts_digest(*parts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        for text in part:
            digest.update(text.encode() + b"\x1e")
        digest.update(b"\x1d")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class CbtOptions:
    eval_per_category: int | None = 100  # questions per category per evaluation (None: all)
    # questions of each retain category (None: as many as eval_per_category); the target's resolution is
    # what the leaderboard's sizes are chosen for, and questions cost CPU time at every checkpoint
    retain_per_category: int | None = None
    questions_per_category: int = 120  # size of the offline set (the three evaluation novels give 131 NE)
    concept_sentences: int = 600  # tagged training sentences a method may look at
    relearn_sentences: int = 600  # further training sentences the attacker relearns on (disjoint)
    perplexity_documents: int = 40  # Lee news documents for the perplexity retain metric
    max_length: int = 128  # tokens per training / perplexity window
    hub_split: str = "test"  # split of a hub dataset to evaluate on


@TASKS.register("cbt")
class CbtTask(Task):
    """Children's Book Test (zero-shot cloze); remove one word category, keep the others."""

    description = "Children's Book Test cloze, zero-shot by likelihood; remove V, P, CN or NE, keep the rest."
    # 2: concept data starts with the BOS token; statistics skip the first position. 3: the retain metrics
    # are each other category's accuracy and the mean token NLL (perplexity is info); a category with no
    # question is undefined; --max-eval-examples is shared out over the categories.
    version = 3
    seed_free_evaluation = True  # options scored by likelihood, every question of the fixed sets
    head_kind = "causal-lm"
    default_model = "SmolLM2-135M-Instruct"
    Options = CbtOptions
    never_learned_impossible = ("its capability (the cloze) comes from pretraining, not from a preparation the "
                                "benchmark could run without the concept")
    relearning_reads = ("the intact model already answers the cloze from pretraining, and the attack (training "
                        "on the other novels' text) does not raise it further; on CBT relearning is the "
                        "recovery of a pretrained capability after damage, not the return of something the "
                        "benchmark taught")
    # On CPU a question costs about 0.5 s (a ~450-token passage shared by up to 4 questions, then 10
    # options); 25 per category keeps an evaluation near a minute.
    profile_overrides = {"quick": {"task_options": {"eval_per_category": 25, "relearn_sentences": 300,
                                                     "perplexity_documents": 20}}}

    def __init__(self, settings: TaskSettings) -> None:
        super().__init__(settings)
        self.options: CbtOptions = settings.options
        self._training: list[TaggedSentence] | None = None
        if settings.concept is not None and settings.concept not in CATEGORIES:
            raise UnknownNameError("CBT category", settings.concept, CATEGORIES,
                                   hint="V verbs, P prepositions, CN common nouns, NE named entities")
        self._concept = settings.concept or "V"
        self.source, self.questions, self.recipe = self._load(settings.data)
        missing = [c for c in CATEGORIES if not any(q.category == c for q in self.questions)]
        if self._concept in missing:
            raise BenchError(f"the data has no questions of category {self._concept}")
        self.categories = [c for c in CATEGORIES if c not in missing]
        n = self._per_category(settings.max_eval_examples)
        retain = n if self.options.retain_per_category is None else min(self.options.retain_per_category, n or 10**9)
        self.eval_questions = first_per_category(self.questions, n, {c: retain for c in self.categories if c != self._concept})

    def _per_category(self, limit: int | None) -> int | None:
        """Questions per category: the option, and a cap on all evaluation examples shared out equally (a cut
        of the question list would drop whole categories)."""
        n = self.options.eval_per_category
        if limit is None:
            return n
        share = max(1, limit // len(self.categories))
        return share if n is None else min(n, share)

    def _load(self, data: str | None) -> tuple[str, list[ClozeQuestion], dict | None]:
        if data is None:
            questions, recipe = offline_questions(self.options.questions_per_category)
            return "offline:austen", questions, asdict(recipe)
        path = Path(data).expanduser()
        if path.is_file() and path.suffix == ".jsonl":
            return f"local:{path.resolve()}", read_jsonl(path), None
        if path.is_dir():
            # The original release: cbtest_{V,P,CN,NE}_test_2500ex.txt
            files = {c: path / f"cbtest_{c}_test_2500ex.txt" for c in CATEGORIES}
            found = [q for c, f in files.items() if f.exists() for q in read_cbt_text(f, c)]
            if not found:
                raise BenchError(f"{path} holds no cbtest_<V|P|CN|NE>_test_2500ex.txt files")
            return f"local:{path.resolve()}", found, None
        if path.exists():
            raise BenchError(f"{path}: give a .jsonl file of questions or a folder of the original CBT files")
        return f"hub:{data}", [q for c in CATEGORIES for q in load_hub(data, c, self.options.hub_split)], None

    @property
    def concept(self) -> str:
        return self._concept

    def fingerprint(self) -> str:
        return texts_digest([q.to_json() for q in self.questions], self._training_texts())

    def describe_data(self) -> dict[str, Any]:
        counts = {c: sum(q.category == c for q in self.eval_questions) for c in self.categories}
        return {"source": self.source, "recipe": self.recipe, "questions": len(self.questions),
                "eval_questions_per_category": counts, "training_novels": list(TRAIN_NOVELS),
                "concept_sentences": self.options.concept_sentences, "relearn_sentences": self.options.relearn_sentences,
                "perplexity": f"Lee news corpus, first {self.options.perplexity_documents} documents"}

    def head(self) -> HeadSpec:
        return HeadSpec(kind="causal-lm")

    def metrics(self) -> list[MetricSpec]:
        specs = [MetricSpec(f"accuracy/{self.concept}", "target")]
        specs += [MetricSpec(f"accuracy/{c}", "retain", family="accuracy") for c in self.categories if c != self.concept]
        specs += [MetricSpec("nll", "retain", higher_is_better=False, family="nll"),
                  MetricSpec("perplexity", "info", higher_is_better=False), MetricSpec("accuracy/all", "info")]
        return specs

    # -- data the harness trains on / a method looks at -----------------------------------------
    def _sentences(self) -> list[TaggedSentence]:
        # Read once: the fingerprint, the concept data and the relearning data all need them.
        if self._training is None:
            self._training = training_sentences(self.options.concept_sentences + self.options.relearn_sentences)
        return self._training

    def _training_texts(self) -> list[str]:
        return [s.text for s in self._sentences()]

    def concept_data(self, tokenizer) -> ConceptData:
        sentences = self._sentences()[:self.options.concept_sentences]
        return span_labelled(tokenizer, [s.text for s in sentences], [s.spans[self.concept] for s in sentences],
                             self.options.max_length, ("other", CATEGORY_NAMES[self.concept]))

    def forget_data(self, tokenizer) -> Examples:
        """The concept data's sentences with the target category's words as the only targets."""
        return concept_targets(self.concept_data(tokenizer), 1)

    def retain_data(self, tokenizer) -> Examples:
        """The same sentences with every other token as the target (the category's words are context only)."""
        return concept_targets(self.concept_data(tokenizer), 0)

    def relearn_data(self, tokenizer) -> Examples:
        sentences = self._sentences()[self.options.concept_sentences:]
        return lm_examples(tokenizer, passages([s.text for s in sentences], 4), self.options.max_length)

    def demonstrations(self, tokenizer, k: int) -> list[str]:
        """k sentences of the relearning text (the training novels, not the questions' novels) that use words of
        the concept's category, the first k that have one."""
        shown = [s.text for s in self._sentences()[self.options.concept_sentences:] if s.spans[self.concept]][:k]
        if len(shown) < k:
            raise BenchError(f"{k} shots asked for, but the relearning text has {len(shown)} sentences with "
                             f"{CATEGORY_NAMES[self.concept]}")
        return shown

    def unrelated_data(self, tokenizer, texts: int) -> tuple[Examples, dict[str, Any]]:
        """Wikipedia paragraphs with the concept's words out of the loss. No text is without verbs or
        prepositions: the category's words stay in as context (tagged as the questions were) but are never a
        target, so the attacker trains on everything else of general text unlike the novels."""
        paragraphs = spread(wikipedia_paragraphs(), texts)
        sentences = list(tag_paragraphs(load_tagger(), paragraphs, "tag unrelated text"))
        data = span_labelled(tokenizer, [s.text for s in sentences], [s.spans[self.concept] for s in sentences],
                             self.options.max_length, ("other", CATEGORY_NAMES[self.concept]))
        info = {"source": "Wikipedia (gensim test data, shortened dump)", "texts": len(paragraphs),
                "sentences": len(sentences),
                "filter": f"the {CATEGORY_NAMES[self.concept]} (spaCy tags, as the questions) are never targets"}
        return concept_targets(data, 0), info

    # -- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: nn.Module, tokenizer, settings: EvalSettings) -> Evaluation:
        # The in-context attack shows its examples in front of the target category's questions only.
        demonstrations = settings.demonstrations
        correct = cloze_correct(model, tokenizer, self.eval_questions, settings.autocast_dtype,
                                demonstrations=lambda q: demonstrations if q.category == self.concept else ())
        questions, statistics = question_columns(self.eval_questions, correct, self.categories)
        windows, lm_statistics = language_modelling(*window_nll(
            model, tokenizer, lee_documents()[:self.options.perplexity_documents], self.options.max_length,
            settings.batch_size, settings.autocast_dtype))
        return Evaluation({"questions": questions, "windows": windows}, {**statistics, **lm_statistics})
