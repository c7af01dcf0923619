"""Named-entity recognition: remove one entity type; seqeval F1 of that type is the target metric."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from seqeval.metrics import classification_report
from torch import nn

from bench import assets
from bench.data import ConceptData, Examples
from bench.errors import BenchError, UnknownNameError
from bench.models import HeadSpec
from bench.progress import progress_bar
from bench.task import TASKS, EvalSettings, MetricSpec, Task, TaskSettings
from bench.training import autocast_for
from tasks.conll import Sentence, entity_types, load_hub, read_conll, read_folder, split_sentences

# The location type goes by different names in different datasets; the first one present is the default.
LOCATION_TYPES = ("LOC", "geo-loc", "location", "loc", "GPE")
OFFLINE_DATA = "wnut16"
IGNORE = -100


@dataclass(frozen=True)
class NerOptions:
    max_length: int = 128  # subword tokens per sentence; words cut off are predicted "O"
    eval_split: str = "dev+test"  # '+'-joined split names to evaluate on


@TASKS.register("ner")
class NerTask(Task):
    """Named-entity recognition (seqeval); remove one entity type, keep the others."""

    description = "Named-entity recognition (seqeval F1); remove one entity type, keep the others."
    version = 1
    head_kind = "token-classification"
    default_model = "all-MiniLM-L6-v2"
    Options = NerOptions
    # WNUT-16 has 1.6k training sentences: the paper's 3 epochs at 2e-5 (tuned for CoNLL's 15k) leave the
    # encoder near F1 0 (ASSETS.md). Measured on 2 CPU cores, batch 16 at lr 2e-4 reaches geo-loc F1 0.53,
    # 0.63, 0.69, 0.71 after epochs 1-4 (batch 8 at 1e-4: 0.52, 0.57, 0.65, 0.69, at twice the steps), so the
    # quick profile fine-tunes that way, and the attacker relearns at the same rate.
    profile_overrides = {
        "quick": {"batch_size": 16, "finetune_epochs": 4.0, "finetune_lr": 2e-4, "relearn_lr": 2e-4},
    }

    def __init__(self, settings: TaskSettings) -> None:
        super().__init__(settings)
        self.options: NerOptions = settings.options
        self.source, self.splits = self._load(settings.data)
        self.eval_sentences = self._eval_sentences()
        all_sentences = [s for split in self.splits.values() for s in split]
        self.types = entity_types(all_sentences)
        self.eval_types = entity_types(self.eval_sentences)
        self.tags = ["O"] + sorted({t for s in all_sentences for t in s.tags if t != "O"})
        self._concept = self._resolve_concept(settings.concept)

    # -- data -----------------------------------------------------------------------------------
    def _load(self, data: str | None) -> tuple[str, dict[str, list[Sentence]]]:
        if data is None:
            path = assets.require(OFFLINE_DATA, kind="data")
            return f"asset:{OFFLINE_DATA}", split_sentences(read_conll(path))
        path = Path(data).expanduser()
        if path.is_dir():
            return f"local:{path.resolve()}", read_folder(path)
        if path.is_file():
            return f"local:{path.resolve()}", split_sentences(read_conll(path))
        return f"hub:{data}", load_hub(data)

    def _eval_sentences(self) -> list[Sentence]:
        names = [name for name in self.options.eval_split.split("+") if name]
        missing = [name for name in names if name not in self.splits]
        if missing or not names:
            raise UnknownNameError("evaluation split", "+".join(missing) or "''", self.splits)
        sentences = [s for name in names for s in self.splits[name]]
        limit = self.settings.max_eval_examples
        return sentences[:limit] if limit else sentences

    def _resolve_concept(self, concept: str | None) -> str:
        if concept is None:
            for name in LOCATION_TYPES:
                if name in self.types:
                    return name
            raise BenchError(f"no location type in this data; pick one with --concept ({', '.join(self.types)})")
        if concept not in self.types:
            raise UnknownNameError("concept (entity type)", concept, self.types)
        if concept not in self.eval_types:
            raise BenchError(f"entity type {concept!r} does not occur in the evaluation split ({self.options.eval_split})")
        return concept

    @property
    def concept(self) -> str:
        return self._concept

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.source.split(":", 1)[0].encode())
        for name in sorted(self.splits):
            digest.update(name.encode())
            for sentence in self.splits[name]:
                digest.update(("\x1f".join(sentence.tokens) + "\x1e" + "\x1f".join(sentence.tags) + "\n").encode())
        return digest.hexdigest()[:16]

    def describe_data(self) -> dict[str, Any]:
        def entities(sentences: list[Sentence], kind: str) -> int:
            return sum(tag in (f"B-{kind}", f"S-{kind}") for s in sentences for tag in s.tags)

        return {
            "source": self.source,
            "sentences": {name: len(split) for name, split in self.splits.items()},
            "eval_split": self.options.eval_split,
            "eval_sentences": len(self.eval_sentences),
            "concept_entities": {
                "train": entities(self.splits.get("train", []), self.concept),
                "eval": entities(self.eval_sentences, self.concept),
            },
        }

    # -- model-facing ---------------------------------------------------------------------------
    def head(self) -> HeadSpec:
        return HeadSpec(kind="token-classification", labels=tuple(self.tags))

    def metrics(self) -> list[MetricSpec]:
        specs = [MetricSpec(f"f1/{self.concept}", "target")]
        specs += [MetricSpec(f"f1/{kind}", "retain") for kind in self.eval_types if kind != self.concept]
        specs += [MetricSpec(f"{name}/overall", "info") for name in ("f1", "precision", "recall")]
        return specs

    def _encode(self, tokenizer, sentences: list[Sentence], word_label, every_subword: bool) -> list[dict]:
        encoded = tokenizer(
            [list(s.tokens) for s in sentences],
            is_split_into_words=True,
            truncation=True,
            max_length=self.options.max_length,
        )
        examples = []
        for i, sentence in enumerate(sentences):
            labels, previous = [], None
            for word in encoded.word_ids(i):
                first = word is not None and word != previous
                labels.append(word_label(sentence, word) if word is not None and (first or every_subword) else IGNORE)
                previous = word
            examples.append({"input_ids": encoded["input_ids"][i], "attention_mask": encoded["attention_mask"][i], "labels": labels})
        return examples

    def _collate(self, tokenizer):
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE, return_tensors="pt")

    def _tagging_data(self, tokenizer) -> Examples:
        tag_ids = {tag: i for i, tag in enumerate(self.tags)}
        examples = self._encode(tokenizer, self.splits["train"], lambda s, w: tag_ids[s.tags[w]], every_subword=False)
        return Examples(examples, self._collate(tokenizer))

    def preparation_data(self, tokenizer) -> Examples:
        return self._tagging_data(tokenizer)

    def relearn_data(self, tokenizer) -> Examples:
        # The attacker retrains on the task's training split, as in the paper; evaluation uses other splits.
        return self._tagging_data(tokenizer)

    def concept_data(self, tokenizer) -> ConceptData:
        concept = self.concept

        def is_concept(sentence: Sentence, word: int) -> int:
            tag = sentence.tags[word]
            return int(tag != "O" and tag[2:] == concept)

        examples = self._encode(tokenizer, self.splits["train"], is_concept, every_subword=True)
        return ConceptData(Examples(examples, self._collate(tokenizer)), label_names=("other", concept))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, tokenizer, settings: EvalSettings) -> dict[str, float]:
        device = next(model.parameters()).device
        encoded = self._encode(tokenizer, self.eval_sentences, lambda s, w: 0, every_subword=False)
        # Batches of similar length waste less compute on padding; scores do not depend on the order.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]))
        sentences = [self.eval_sentences[i] for i in order]
        data = Examples([encoded[i] for i in order], self._collate(tokenizer))
        gold, predicted = [], []
        index = 0
        for batch in progress_bar(data.loader(settings.batch_size), "evaluate ner"):
            with autocast_for(device, settings.autocast_dtype):
                logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
            best = logits.argmax(-1).cpu()
            first_subword = batch["labels"] != IGNORE
            for row in range(best.shape[0]):
                sentence = sentences[index]
                tags = [self.tags[t] for t in best[row][first_subword[row]].tolist()]
                # Words cut off by max_length get "O": they count as misses, not as silently dropped.
                tags += ["O"] * (len(sentence.tokens) - len(tags))
                gold.append(list(sentence.tags))
                predicted.append(tags)
                index += 1
        report = classification_report(gold, predicted, output_dict=True, zero_division=0)
        scores = {f"f1/{kind}": float(report[kind]["f1-score"]) if kind in report else 0.0 for kind in self.eval_types}
        micro = report["micro avg"]
        scores.update({"f1/overall": float(micro["f1-score"]), "precision/overall": float(micro["precision"]),
                       "recall/overall": float(micro["recall"])})
        return scores
