"""SNIP (Li 2024) and its two comparison methods, all on one pipeline:

1. candidates: the `explain_top` units the forget set activates most (its mean activation on concept tokens
   minus that on the other tokens) — explaining every unit of a model is the expensive step, so the budget
   is explicit and part of every entry's name; `explain_top=0` explains them all, as the paper does (and
   as `--profile paper` runs);
2. activation records for the candidates, and one explanation per unit from the backend;
3. the forget set's concepts (the backend's LLM, or `concepts=...`).

Then each method ranks the explained units its own way: `snip` by the maximum cosine similarity of the
explanation's embedding to any concept's; `keyword` among the units whose explanation contains a keyword;
`llm-select` by the LLM's 0–10 importance rating. A unit a method does not rank is not pruned: a method that
ranks fewer units than the budget prunes fewer, and the record and the leaderboard say so. Filling the rest
by forget-set activation is an explicit option (`fill=forget-activation`) that every page names.
"""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from bench.api.method import Grid, Method, UnlearnContext, UnlearningResult
from bench.core.errors import BenchError
from bench.core.plugins import EXPLAINERS, METHODS
from bench.core.progress import console
from bench.llm.cache import LLMCache
from bench.llm.embedders import EmbedderSettings, load_embedder
from bench.methods.snip.explainers import (
    BackendSettings,
    Explainer,
    Explanation,
)
from bench.methods.snip.forget_set import concept_samples, distinctive_words
from bench.methods.snip.prompts import parse_rating, rating_request, rating_retry
from bench.methods.snip.records import ActivationRecords, activation_records
from bench.neurons.masks import NOT_RANKED, budget_to_k, select_top_k

Unit = tuple[int, int]  # (layer, index)


@dataclass(frozen=True)
class SnipOptions:
    backend: str = "local"  # explainer backend: local, vllm, openai, hats, file (see `bench list`)
    model: str | None = None  # the backend's LLM (local: SmolLM2-135M-Instruct; openai: gpt-4o-mini)
    base_url: str | None = None  # openai: any OpenAI-compatible endpoint
    api_key_env: str = "OPENAI_API_KEY"  # openai: the environment variable that holds the key
    max_concurrency: int = 8  # openai: requests in flight
    max_retries: int = 5  # openai: retries with backoff on 429, 5xx and timeouts
    explanations_file: str | None = None  # file: JSONL of layer, index, explanation, score
    concepts_backend: str = "local"  # file: the LLM backend that lists the forget set's concepts
    concepts: tuple[str, ...] = ()  # the forget set's concepts, given instead of asked for
    max_concepts: int = 10
    concept_samples: int = 8  # forget-set texts shown in the dataset-concepts prompt
    embedder: str = "sentence-transformers"  # or openai
    embedder_model: str | None = None  # sentence-transformers: all-MiniLM-L6-v2; openai: text-embedding-3-small
    explain_top: int = 256  # explain this many candidate units (0: every unit); about 1 s each on 2 CPU cores
    fill: Literal["none", "forget-activation"] = "none"  # what prunes the budget the method's own ranking leaves
    records_per_unit: int = 3  # activation records in each explanation prompt
    record_window: int = 12  # tokens per record
    llm_batch_size: int = 16  # local: prompts per generate() call
    show_top: int = 10  # pruned units (with explanations) the record and the CLI show


@dataclass
class Explained:
    """What the pipeline found, before any method ranks it."""

    explainer: Explainer
    cache: LLMCache
    forget_activation: torch.Tensor  # [layers, width]
    explanations: list[Explanation]  # one per candidate unit
    concepts: list[str]


def forget_activation(model: nn.Module, ctx: UnlearnContext) -> torch.Tensor:
    """Per unit: mean activation on the concept tokens minus the mean over the other labels' means."""
    means = ctx.concept_statistics(model).label_means  # [layers, labels, width]
    concept = means.shape[1] - 1
    others = means[:, :concept]
    baseline = torch.nanmean(others, dim=1) if concept > 0 else torch.zeros_like(means[:, 0])
    return torch.nan_to_num(means[:, concept] - baseline, nan=0.0)


def top_units(scores: torch.Tensor, n: int) -> torch.Tensor:
    """[n, 2] (layer, index) of the n highest scores, highest first."""
    order = torch.argsort(-scores.flatten(), stable=True)[:n]
    return torch.stack([order // scores.shape[1], order % scores.shape[1]], dim=1)


def ranked_scores(ranked: list[tuple[int, int]], shape: tuple[int, int],
                  fill: torch.Tensor | None = None) -> torch.Tensor:
    """Scores that put `ranked` first, in that order. Every other unit is NOT_RANKED, or, given a `fill`
    ordering, comes after all of them in that order."""
    layers, width = shape
    first = torch.tensor([layer * width + index for layer, index in ranked], dtype=torch.long)
    scores = torch.full((layers * width,), NOT_RANKED)
    scores[first] = torch.arange(layers * width, layers * width - len(ranked), -1, dtype=torch.float32)
    if fill is not None:
        is_ranked = torch.zeros(layers * width, dtype=torch.bool)
        is_ranked[first] = True
        rest = torch.argsort(-fill.flatten().masked_fill(is_ranked, float("-inf")), stable=True)[: int((~is_ranked).sum())]
        scores[rest] = torch.arange(len(rest), 0, -1, dtype=torch.float32)
    return scores.view(layers, width)


def among_equals_at_the_cut(ranked: list[Unit], unit_scores: dict[Unit, float | None], k: int) -> int:
    """How many of the pruned units were chosen from a group of equal scores that the budget splits.

    Those were picked by the ranking's tie order (the candidates' order), not by their score; unscored units
    (a keyword's matches) are all equal."""
    if len(ranked) <= k or k <= 0:
        return 0
    cut = unit_scores.get(ranked[k - 1])
    if unit_scores.get(ranked[k]) != cut:
        return 0  # the budget ends between two scores
    return sum(unit_scores.get(unit) == cut for unit in ranked[:k])


class SnipFamily(Method):
    """The shared pipeline; subclasses implement `rank`."""

    # 2: no silent fill of the budget (option `fill`); statistics skip a causal model's first position;
    # keyword matches words its backend can produce and fails on none; llm-select shows dataset examples,
    # retries unparsed ratings and fails above 10% unparsed.
    version = 2
    Options: ClassVar[type] = SnipOptions
    profile_options = {"paper": {"explain_top": 0}}  # the paper explains every unit
    grid = Grid(fractions=(0.001, 0.01, 0.1))  # the SNIP paper sweeps 0-10% of the units
    score_name: ClassVar[str] = "score"
    needs_llm: ClassVar[bool] = False  # True: the method asks the LLM itself, beyond explanations

    def label(self, name: str, explicit: dict[str, Any]) -> str:
        """e.g. `snip [local, top 256]`, `snip [hats, every unit] (ablation: no LLM)`: the explainer and the
        candidate prefilter decide what a row measures, so every page names them, defaults included."""
        o = self.options
        candidates = ("units in the file" if o.backend == "file" else
                      "every unit" if o.explain_top <= 0 else f"top {o.explain_top}")
        parts = [o.backend, candidates] + ([f"fill={o.fill}"] if o.fill != "none" else [])
        rest = {k: v for k, v in explicit.items() if k not in ("backend", "explain_top", "fill")}
        text = f"{name} [{', '.join(parts)}]"
        if rest:
            text += " (" + ", ".join(f"{k}={v}" for k, v in sorted(rest.items())) + ")"
        return text + (" (ablation: no LLM)" if o.backend == "hats" else "")

    @abstractmethod
    def rank(self, found: Explained, ctx: UnlearnContext) -> tuple[list[Unit], dict[Unit, float], dict[str, Any]]:
        """(units in ranking order, each ranked unit's score, what the record should know)."""

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> UnlearningResult:
        k = budget_to_k(ctx.space.total, fraction=ctx.fraction, k=ctx.k)
        found = self.explain(model, ctx)
        try:
            ranked, unit_scores, extra = self.rank(found, ctx)
            fill = found.forget_activation if self.options.fill == "forget-activation" else None
            scores = ranked_scores(ranked, ctx.space.shape, fill)
            mask = select_top_k(scores, k, ctx.space.name)
            info, files = self.describe(found, ranked, unit_scores, mask.pruned, k, extra)
        finally:
            found.cache.close()
        return UnlearningResult(mask=mask, k_requested=k, scores=scores, info=info, files=files)

    def backend_settings(self, ctx: UnlearnContext) -> BackendSettings:
        o = self.options
        return BackendSettings(model=o.model, base_url=o.base_url, api_key_env=o.api_key_env,
                               max_concurrency=o.max_concurrency, max_retries=o.max_retries,
                               batch_size=o.llm_batch_size, device=ctx.device, explanations_file=o.explanations_file,
                               concepts_backend=o.concepts_backend)

    def explain(self, model: nn.Module, ctx: UnlearnContext) -> Explained:
        o = self.options
        if ctx.tokenizer is None:
            raise BenchError(f"{type(self).__name__} needs the model's tokenizer in the unlearning context")
        cache = LLMCache()
        explainer = EXPLAINERS.get(o.backend)(self.backend_settings(ctx), cache)
        if self.needs_llm and explainer.chat() is None:
            raise BenchError(f"{type(self).__name__} needs an LLM to ask; backend {o.backend!r} has none "
                             f"(use backend=local or backend=openai)")
        activation = forget_activation(model, ctx)
        if explainer.needs_records:
            n = ctx.space.total if o.explain_top <= 0 else min(o.explain_top, ctx.space.total)
            units = top_units(activation, n)
            records = activation_records(model, ctx.space, ctx.concept.data, units, ctx.tokenizer,
                                         n_records=o.records_per_unit, window=o.record_window,
                                         batch_size=ctx.batch_size)
        else:
            layers, width = ctx.space.shape
            inside = [(layer, index) for layer, index in explainer.explained_units() if layer < layers and index < width]
            if not inside:
                raise BenchError(f"none of the file's explained units fits this model's {ctx.space.name} units "
                                 f"({layers} layers × {width})")
            records = [ActivationRecords(layer, index, [], [], 0.0) for layer, index in inside]
        explanations = explainer.explain(records)
        concepts = list(o.concepts) or explainer.dataset_concepts(
            concept_samples(ctx.concept, ctx.tokenizer, o.concept_samples, ctx.seed),
            distinctive_words(ctx.concept, ctx.tokenizer), o.max_concepts)
        console.print(f"[dim]forget-set concepts:[/] {'; '.join(concepts)}")
        return Explained(explainer, cache, activation, explanations, concepts)

    def describe(self, found: Explained, ranked: list[tuple[int, int]], unit_scores: dict[tuple[int, int], float],
                 pruned: torch.Tensor, k: int, extra: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        position = {unit: i for i, unit in enumerate(ranked)}
        rows = []
        for e in found.explanations:
            unit = (e.layer, e.index)
            rows.append({"layer": e.layer, "index": e.index, "explanation": e.text, "score": e.score,
                         self.score_name: unit_scores.get(unit), "rank": position.get(unit),
                         "forget_activation": round(float(found.forget_activation[unit]), 6),
                         "pruned": bool(pruned[unit])})
        rows.sort(key=lambda r: (r["rank"] is None, r["rank"] if r["rank"] is not None else 0))
        shown = [{key: row[key] for key in ("layer", "index", "explanation", self.score_name)}
                 for row in rows if row["pruned"] and row["rank"] is not None][: self.options.show_top]
        info = {
            "backend": found.explainer.identity(),
            "explained_units": sum(bool(e.text) for e in found.explanations),
            "candidates": len(found.explanations),
            "candidates_are": ("the units in the explanations file" if not found.explainer.needs_records else
                               "every unit" if self.options.explain_top <= 0 else
                               "the units the forget set activates most (explain_top)"),
            "concepts": found.concepts,
            "ranked_units": len(ranked),
            "pruned_by_ranking": min(k, len(ranked)),
            "fill": self.options.fill,
            "pruned_by_fill": int(pruned.sum()) - min(k, len(ranked)),
            "pruned_among_equals_at_the_cut": among_equals_at_the_cut(ranked, unit_scores, k),
            "score": self.score_name,
            "top_units": shown,
            "llm_cache": found.cache.usage(),
            "explanations_file": "explanations.jsonl",
            "llm_cache_keys_file": "llm_cache_keys.txt",
            **extra,
        }
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        return info, {"explanations.jsonl": text, "llm_cache_keys.txt": found.cache.used_keys()}


@METHODS.register("snip")
class Snip(SnipFamily):
    """Prune the units whose LLM explanation is closest to the forget set's concepts (Li 2024)."""

    description = "Prune units whose LLM explanation is closest to the forget set's concepts (SNIP; Li 2024)."
    score_name = "similarity"

    def rank(self, found: Explained, ctx: UnlearnContext):
        o = self.options
        embedder = load_embedder(o.embedder, EmbedderSettings(model=o.embedder_model, device=ctx.device,
                                                              base_url=o.base_url, api_key_env=o.api_key_env,
                                                              max_retries=o.max_retries))
        explained = [e for e in found.explanations if e.text]
        if not explained:
            return [], {}, {"embedder": embedder.identity()}
        vectors = embedder.embed([e.text for e in explained], found.cache)
        concepts = embedder.embed(found.concepts, found.cache)
        similarity, nearest = (vectors @ concepts.T).max(dim=1)
        scores = {(e.layer, e.index): round(float(s), 6) for e, s in zip(explained, similarity)}
        # Ties (identical explanations) go to the unit the forget set activates more.
        ranked = sorted(scores, key=lambda u: (-scores[u], -float(found.forget_activation[u])))
        counts = torch.bincount(nearest, minlength=len(found.concepts)).tolist()
        return ranked, scores, {"embedder": embedder.identity(),
                                "units_nearest_each_concept": dict(zip(found.concepts, counts))}


@dataclass(frozen=True)
class KeywordOptions(SnipOptions):
    keywords: tuple[str, ...] = ()  # default: the words of the forget set's concepts (the backend's own list)


# Words a concept phrase is built from that say nothing about the concept itself.
_FILLER = frozenset("""a an and are as at be by for from in into is it its of on or that the their this to with
use used using words word language text texts phrases phrase terms term other various related expressions""".split())


def keywords_from(concepts: list[str]) -> list[str]:
    """The content words of the forget set's concepts, in order: they come from the same backend as the
    explanations (an LLM's phrases, or the highest-activating words for `hats`), so they can occur in them."""
    words: list[str] = []
    for concept in concepts:
        for word in re.findall(r"[a-z][a-z'-]+", concept.lower()):
            if len(word) > 2 and word not in _FILLER and word not in words:
                words.append(word)
    return words


def keyword_matches(text: str, keywords: list[str]) -> list[str]:
    """The keywords that start a word of `text` (`insult` matches "insults", not "consultant")."""
    return [k for k in keywords if re.search(rf"\b{re.escape(k)}", text, flags=re.IGNORECASE)]


@METHODS.register("keyword")
class Keyword(SnipFamily):
    """SNIP's baseline: prune the units whose explanation contains a keyword, best-explained first."""

    description = "SNIP baseline: prune units whose explanation contains a keyword, ranked by explanation score."
    Options = KeywordOptions
    score_name = "explanation_score"

    def rank(self, found: Explained, ctx: UnlearnContext):
        keywords = [k.lower() for k in self.options.keywords] or keywords_from(found.concepts)
        if not keywords:
            raise BenchError(f"keyword: the forget set's concepts {found.concepts} hold no usable word; pass keywords=...")
        matched = [e for e in found.explanations if e.text and keyword_matches(e.text, keywords)]
        if not matched:
            explained = [e.text for e in found.explanations if e.text]
            sample = "; ".join(repr(t) for t in explained[:5]) or "(no unit was explained)"
            raise BenchError(f"keyword: none of the {len(explained)} explanations contains any of the keywords "
                             f"{', '.join(keywords)}; explanations look like: {sample}. Pass keywords= words that occur "
                             f"in this backend's explanations")
        scored = all(e.score is not None for e in matched)
        # The paper ranks matches by their explanation score (Bills et al.'s simulation score). LLM explanations
        # made here carry none (that takes a simulator model): such matches are unscored, and keep the
        # candidates' order, which the record says.
        order = sorted(matched, key=lambda e: -e.score) if scored else matched
        scores = {(e.layer, e.index): e.score for e in order}
        return [(e.layer, e.index) for e in order], scores, {
            "keywords": keywords, "keywords_from": "option" if self.options.keywords else "forget-set concepts",
            "matched_units": len(matched),
            "ranked_by": "explanation score" if scored else "unscored: matches in candidate order",
            "matches_per_keyword": {k: sum(bool(keyword_matches(e.text, [k])) for e in matched) for k in keywords}}


@METHODS.register("llm-select")
class LLMSelect(SnipFamily):
    """SNIP's baseline: the LLM sees forget-set examples and a unit's explanation, and rates the unit 0–10."""

    description = "SNIP baseline: the LLM rates each explained unit's importance (0–10) for the forget set."
    score_name = "rating"
    needs_llm = True
    # 3: a unit rated 0 (irrelevant) is not ranked, so never pruned. 4: the same rating for every unit fails.
    version = 4
    max_unparsed = 0.10  # the share of ratings that may stay unreadable after the retry before the run fails

    def rank(self, found: Explained, ctx: UnlearnContext):
        chat = found.explainer.chat()
        explained = [e for e in found.explanations if e.text]
        if not explained:
            raise BenchError("llm-select: the backend explained no unit, so there is nothing to rate")
        samples = concept_samples(ctx.concept, ctx.tokenizer, self.options.concept_samples, ctx.seed)
        requests = [rating_request(e.text, found.concepts, samples) for e in explained]
        replies = chat.complete(requests, found.cache, description="rate units")
        ratings = [parse_rating(reply) for reply in replies]
        first_unparsed = [i for i, r in enumerate(ratings) if r is None]
        if first_unparsed:
            retried = chat.complete([rating_retry(requests[i], replies[i]) for i in first_unparsed], found.cache,
                                    description="rate units (retry)")
            for i, reply in zip(first_unparsed, retried):
                ratings[i] = parse_rating(reply)
                replies[i] = reply
        unparsed = [i for i, r in enumerate(ratings) if r is None]
        if len(unparsed) > self.max_unparsed * len(explained):
            raise BenchError(f"llm-select: {len(unparsed)} of {len(explained)} ratings held no integer 0–10 even after a "
                             f"stricter retry (more than {self.max_unparsed:.0%}); e.g. {replies[unparsed[0]]!r}. "
                             f"Use a stronger model (backend=openai) or model=...")
        parsed = [r for r in ratings if r is not None]
        if len(parsed) > 1 and len(set(parsed)) == 1:
            # One rating for every unit carries no judgement: the order would be the candidates' (the prefilter's).
            raise BenchError(f"llm-select: the LLM rated all {len(parsed)} units the same ({parsed[0]}), so its "
                             f"ranking would be the candidates' order, not its judgement; e.g. {replies[0]!r}. "
                             f"Use a stronger model (backend=openai) or model=...")
        # A unit rated 0 was judged irrelevant, so it is not ranked: when the budget exceeds the rated units,
        # pruning it anyway would prune the candidate prefilter's choice, not the LLM's.
        scores = {(e.layer, e.index): float(r) for e, r in zip(explained, ratings) if r}
        # Equal ratings keep the candidates' order; the record says so.
        ranked = sorted(scores, key=lambda u: -scores[u])
        return ranked, scores, {"rated": len(explained), "unparsed_first_reply": len(first_unparsed),
                                "unparsed_after_retry": len(unparsed), "rated_irrelevant": ratings.count(0),
                                "ties": "candidate order",
                                "rating_counts": {str(v): sum(r == v for r in ratings) for v in range(11)}}
