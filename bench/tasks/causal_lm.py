"""What causal-LM tasks share: training examples, perplexity, multiple-choice likelihoods, concept labels.

Everything streams in batches on the model's device; nothing per-token is kept beyond a batch.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

import torch
from torch import nn

from bench.api.data import ConceptData, Examples
from bench.api.evaluation import Statistic
from bench.core.progress import progress_bar
from bench.models.precision import autocast_for

IGNORE = -100


def pad_collate(pad_id: int):
    """Right-pad `input_ids` (with `attention_mask`) and `labels` (with -100) into a batch."""

    def collate(rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        out = {"input_ids": torch.full((len(rows), width), pad_id, dtype=torch.long),
               "attention_mask": torch.zeros((len(rows), width), dtype=torch.long)}
        if "labels" in rows[0]:
            out["labels"] = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            out["input_ids"][i, :n] = torch.tensor(row["input_ids"])
            out["attention_mask"][i, :n] = 1
            if "labels" in out:
                out["labels"][i, :n] = torch.tensor(row["labels"])
        return out

    return collate


def chunk_ids(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Each text's tokens cut into consecutive windows of at most max_length (the last may be shorter)."""
    chunks = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        chunks += [ids[i:i + max_length] for i in range(0, len(ids), max_length) if len(ids[i:i + max_length]) > 1]
    return chunks


def lm_examples(tokenizer, texts: Sequence[str], max_length: int) -> Examples:
    """Language-modelling examples (labels = inputs; the model shifts them)."""
    rows = [{"input_ids": ids, "labels": list(ids)} for ids in chunk_ids(tokenizer, texts, max_length)]
    return Examples(rows, pad_collate(tokenizer.pad_token_id))


@torch.no_grad()
def window_nll(model: nn.Module, tokenizer, texts: Sequence[str], max_length: int, batch_size: int,
               autocast_dtype: torch.dtype | None = None) -> tuple[list[float], list[int]]:
    """Summed next-token NLL and the number of predicted tokens of every window of max_length tokens (in a
    fixed order: the same texts give the same windows at every stage, so windows can be resampled in pairs)."""
    device = next(model.parameters()).device
    chunks = sorted(chunk_ids(tokenizer, texts, max_length), key=len)
    collate = pad_collate(tokenizer.pad_token_id)
    nll_sums: list[float] = []
    tokens: list[int] = []
    for start in progress_bar(range(0, len(chunks), batch_size), "perplexity"):
        batch = collate([{"input_ids": c} for c in chunks[start:start + batch_size]])
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        with autocast_for(device, autocast_dtype):
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, IGNORE)
        nll = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                          ignore_index=IGNORE, reduction="none").view(targets.shape)
        nll_sums += nll.sum(dim=1).tolist()
        tokens += (targets != IGNORE).sum(dim=1).tolist()
    return nll_sums, tokens


def perplexity(model: nn.Module, tokenizer, texts: Sequence[str], max_length: int, batch_size: int,
               autocast_dtype: torch.dtype | None = None) -> float:
    """exp(mean next-token NLL) over every predicted token of the texts, in windows of max_length."""
    nll_sums, tokens = window_nll(model, tokenizer, texts, max_length, batch_size, autocast_dtype)
    return math.exp(sum(nll_sums) / max(sum(tokens), 1))


def language_modelling(nll_sums: Sequence[float], tokens: Sequence[int]) -> tuple[dict[str, list], dict[str, Statistic]]:
    """The `windows` sample and its metrics: `nll` (mean token NLL, the retain metric: its relative rise is
    bounded by the scale of a language model's loss, where perplexity's is exponential in it) and
    `perplexity` (recorded for reading)."""
    return ({"nll": list(nll_sums), "tokens": list(tokens)},
            {"nll": Statistic("windows", "ratio", ("nll", "tokens")),
             "perplexity": Statistic("windows", "exp_ratio", ("nll", "tokens"))})


@dataclass(frozen=True)
class ChoiceItem:
    """Pick among `options` continuing `shared + prefix`. Items with the same `shared` text (a cloze
    passage asked about several words) share its forward pass and KV cache."""

    shared: str
    prefix: str
    options: tuple[str, ...]


def _body_and_head(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    # The output projection is applied only where a likelihood is needed: over a 49k vocabulary it costs
    # a third of the forward pass, and the long shared contexts need no logits at all.
    return model.base_model, model.get_output_embeddings()


def _cache_keyword(body: nn.Module) -> str:
    # transformers 5 renamed the forward pass's `past_key_values` to `cache` (the old name warns, and goes in
    # 5.40); releases before the rename know only the old one. The same cache object either way.
    return "cache" if "cache" in inspect.signature(body.forward).parameters else "past_key_values"


def _returned_cache(out):
    return out["cache"] if "cache" in out.keys() else out["past_key_values"]


@torch.no_grad()
def option_log_likelihoods(model: nn.Module, tokenizer, items: Sequence[ChoiceItem],
                           autocast_dtype: torch.dtype | None = None, description: str = "cloze") -> list[list[float]]:
    """log p(option | shared + prefix), summed over the option's tokens, for every option of every item.

    One forward pass per shared context, one per prefix, and one batch of all options with the cache
    repeated across it; right padding of the options cannot reach earlier tokens under causal attention.
    """
    device = next(model.parameters()).device
    body, head = _body_and_head(model)
    cache_keyword = _cache_keyword(body)
    results: list[list[float]] = [[] for _ in items]
    order = sorted(range(len(items)), key=lambda i: items[i].shared)
    groups = [list(g) for _, g in groupby(order, key=lambda i: items[i].shared)]
    with autocast_for(device, autocast_dtype):
        for group in progress_bar(groups, description):
            shared_ids = tokenizer(items[group[0]].shared, add_special_tokens=False)["input_ids"]
            out = body(input_ids=torch.tensor([shared_ids], device=device), use_cache=True)
            cache, shared_last = _returned_cache(out), out.last_hidden_state[:, -1:]
            shared_len = len(shared_ids)
            for index in group:
                item = items[index]
                prefix_ids = tokenizer(item.prefix, add_special_tokens=False)["input_ids"] if item.prefix else []
                last = shared_last
                if prefix_ids:
                    out = body(input_ids=torch.tensor([prefix_ids], device=device), use_cache=True, **{cache_keyword: cache})
                    last = out.last_hidden_state[:, -1:]
                option_ids = [tokenizer(o, add_special_tokens=False)["input_ids"] for o in item.options]
                width = max(len(o) for o in option_ids)
                batch = torch.full((len(option_ids), width), tokenizer.pad_token_id, dtype=torch.long)
                for row, ids in enumerate(option_ids):
                    batch[row, :len(ids)] = torch.tensor(ids)
                batch = batch.to(device)
                cache.batch_repeat_interleave(len(option_ids))
                hidden = body(input_ids=batch, use_cache=True, **{cache_keyword: cache}).last_hidden_state
                # Position t of an option is predicted by the hidden state before it: the prefix's last
                # state for t = 0, the option's own state t - 1 after that.
                states = torch.cat([last.expand(len(option_ids), 1, -1), hidden[:, :-1]], dim=1)
                logprobs = torch.log_softmax(head(states).float(), dim=-1).gather(-1, batch.unsqueeze(-1)).squeeze(-1)
                for row, ids in enumerate(option_ids):
                    results[index].append(float(logprobs[row, :len(ids)].sum()))
                # Back to the shared context (a negative crop removes tokens in transformers 4 and 5 alike).
                cache.crop(-(cache.get_seq_length() - shared_len))
                cache.batch_select_indices(torch.tensor([0], device=device))
    return results


def concept_targets(concept: ConceptData, label: int) -> Examples:
    """Language-modelling examples from concept data whose targets are the tokens carrying `label` (the concept's
    for a forget set, the other label's for a retain set); every other token is context only. Rows left without
    a target are dropped."""
    rows = []
    for row in concept.data.examples:
        labels = [token if tag == label else IGNORE for token, tag in zip(row["input_ids"], row["labels"], strict=True)]
        if any(t != IGNORE for t in labels):
            rows.append({"input_ids": row["input_ids"], "labels": labels})
    return Examples(rows, concept.data.collate)


def span_labelled(tokenizer, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], max_length: int,
                  label_names: tuple[str, str],
                  ignored: Sequence[Sequence[tuple[int, int]]] | None = None) -> ConceptData:
    """Concept data from character spans: a token is the concept (1) when it overlaps one of its text's
    `spans`, else 0; a token inside one of its text's `ignored` spans (a prompt before a completion, say) is
    neither (-100: not counted).

    Each text starts with the tokenizer's BOS token where it has one, labelled -100: the first position of a
    causal model is an attention sink (see `bench.neurons.activations.concept_labels`), which the BOS token takes
    instead of the text's first word.
    """
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    encoded = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length - len(bos),
                        return_offsets_mapping=True)

    def overlaps(start: int, end: int, ranges: Sequence[tuple[int, int]]) -> bool:
        return any(start < r_end and r_start < end for r_start, r_end in ranges)

    rows = []
    for i, text_spans in enumerate(spans):
        skip = ignored[i] if ignored is not None else ()
        labels = [IGNORE] * len(bos)
        for start, end in encoded["offset_mapping"][i]:
            labels.append(IGNORE if overlaps(start, end, skip) else int(overlaps(start, end, text_spans)))
        rows.append({"input_ids": bos + encoded["input_ids"][i], "labels": labels})
    return ConceptData(Examples(rows, pad_collate(tokenizer.pad_token_id)), label_names=label_names)
