"""SNIP (Li 2024) and its two comparison methods, all on one pipeline:

1. candidates: the `explain_top` units the forget set activates most (its mean activation on concept tokens
   minus that on the other tokens) — explaining every unit of a model is the expensive step, so the budget
   is explicit; `explain_top=0` explains them all;
2. activation records for the candidates, and one explanation per unit from the backend;
3. the forget set's concepts (the backend's LLM, or `concepts=...`).

Then each method ranks the explained units its own way: `snip` by the maximum cosine similarity of the
explanation's embedding to any concept's; `keyword` by explanation score among units whose explanation
contains a keyword; `llm-select` by the LLM's 0–10 importance rating. Units a method does not rank come
after every unit it does, in order of forget-set activation; the record says how many of the pruned units
were ranked by the method itself.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from bench.errors import BenchError
from bench.llm.cache import LLMCache
from bench.llm.embedders import EmbedderSettings, load_embedder
from bench.masks import budget_to_k, select_top_k
from bench.method import METHODS, Method, UnlearnContext, Unlearned
from bench.progress import console
from methods.snip.explainers import EXPLAINERS, BackendSettings, Explainer, Explanation
from methods.snip.forget_set import concept_samples, distinctive_words
from methods.snip.prompts import parse_rating, rating_request
from methods.snip.records import ActivationRecords, activation_records


Unit = tuple[int, int]  # (layer, index)


@dataclass(frozen=True)
class SnipOptions:
    backend: str = "local"  # explainer backend: local, openai, hats, file (see `bench list`)
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


def ranked_scores(ranked: list[tuple[int, int]], fallback: torch.Tensor) -> torch.Tensor:
    """Scores that put `ranked` first (in that order) and every other unit after, in `fallback` order."""
    width = fallback.shape[1]
    first = torch.tensor([layer * width + index for layer, index in ranked], dtype=torch.long)
    is_ranked = torch.zeros(fallback.numel(), dtype=torch.bool)
    is_ranked[first] = True
    rest = torch.argsort(-fallback.flatten().masked_fill(is_ranked, float("-inf")), stable=True)[: (~is_ranked).sum()]
    order = torch.cat([first, rest])
    scores = torch.empty(fallback.numel())
    scores[order] = torch.arange(fallback.numel(), 0, -1, dtype=torch.float32)
    return scores.view_as(fallback)


class SnipFamily(Method):
    """The shared pipeline; subclasses implement `rank`."""

    version = 1
    Options: ClassVar[type] = SnipOptions
    score_name: ClassVar[str] = "score"
    needs_llm: ClassVar[bool] = False  # True: the method asks the LLM itself, beyond explanations

    @abstractmethod
    def rank(self, found: Explained, ctx: UnlearnContext) -> tuple[list[Unit], dict[Unit, float], dict[str, Any]]:
        """(units in ranking order, each ranked unit's score, what the record should know)."""

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> Unlearned:
        k = budget_to_k(ctx.space.total, fraction=ctx.fraction, k=ctx.k)
        found = self.explain(model, ctx)
        ranked, unit_scores, extra = self.rank(found, ctx)
        if k > len(ranked):
            console.print(f"[yellow]warning:[/] the budget ({k} units) exceeds the {len(ranked)} units {type(self).__name__} "
                          f"ranked; the other {k - len(ranked)} follow forget-set activation (raise explain_top)")
        scores = ranked_scores(ranked, found.forget_activation)
        mask = select_top_k(scores, k, ctx.space.name)
        info, files = self.describe(found, ranked, unit_scores, mask.pruned, k, extra)
        found.cache.close()
        return Unlearned(mask=mask, scores=scores, info=info, files=files)

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
            "concepts": found.concepts,
            "ranked_units": len(ranked),
            "pruned_by_ranking": min(k, len(ranked)),
            "pruned_by_forget_activation": max(0, k - len(ranked)),
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
    keywords: tuple[str, ...] = ()  # default: the concept's label name (e.g. "toxic")


@METHODS.register("keyword")
class Keyword(SnipFamily):
    """SNIP's baseline: prune the units whose explanation contains a keyword, best-explained first."""

    description = "SNIP baseline: prune units whose explanation contains a keyword, ranked by explanation score."
    Options = KeywordOptions
    score_name = "explanation_score"

    def rank(self, found: Explained, ctx: UnlearnContext):
        keywords = [k.lower() for k in (self.options.keywords or (ctx.concept.label_names[-1],))]
        matched = [e for e in found.explanations if any(k in e.text.lower() for k in keywords)]
        has_scores = any(e.score is not None for e in matched)
        # Explanations from an LLM here carry no quality score (that needs a simulator model): rank those by
        # forget-set activation instead, and say so in the record.
        scores = {(e.layer, e.index): (e.score if has_scores and e.score is not None else
                                       float(found.forget_activation[e.layer, e.index])) for e in matched}
        ranked = sorted(scores, key=lambda u: -scores[u])
        return ranked, scores, {"keywords": keywords, "matched_units": len(matched),
                                "ranked_by": "explanation score" if has_scores else "forget-set activation"}


@METHODS.register("llm-select")
class LLMSelect(SnipFamily):
    """SNIP's baseline: the LLM rates each explained unit's importance for the forget set, 0–10."""

    description = "SNIP baseline: the LLM rates each explained unit's importance (0–10) for the forget set."
    score_name = "rating"
    needs_llm = True

    def rank(self, found: Explained, ctx: UnlearnContext):
        chat = found.explainer.chat()
        explained = [e for e in found.explanations if e.text]
        replies = chat.complete([rating_request(e.text, found.concepts) for e in explained], found.cache,
                                description="rate units")
        ratings = [parse_rating(reply) for reply in replies]
        scores = {(e.layer, e.index): float(r) for e, r in zip(explained, ratings) if r is not None}
        ranked = sorted(scores, key=lambda u: (-scores[u], -float(found.forget_activation[u])))
        return ranked, scores, {"unparsed_ratings": sum(r is None for r in ratings),
                                "rating_counts": {str(v): sum(r == v for r in ratings) for v in range(11)}}
