"""Named-entity recognition: remove one entity type; seqeval F1 of that type is the target metric."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from seqeval.metrics.sequence_labeling import get_entities
from torch import nn

from bench.api.data import ConceptData, Examples
from bench.api.evaluation import Evaluation, Statistic
from bench.api.task import EvalSettings, MetricSpec, Task, TaskSettings
from bench.core import assets
from bench.core.errors import BenchError, UnknownNameError
from bench.core.paths import subdir
from bench.core.plugins import TASKS
from bench.core.progress import progress_bar
from bench.models.loading import HeadSpec
from bench.models.precision import autocast_for
from bench.tasks.conll import (
    Sentence,
    deduplicate,
    entity_types,
    load_hub,
    read_conll,
    read_folder,
    split_sentences,
)
from bench.tasks.silver_ner import silver_corpus

# The location type goes by different names in different datasets; the most frequent one present is the default
# (OntoNotes has two: GPE, the countries, cities and states, and LOC, the mountains, rivers and regions).
LOCATION_TYPES = ("LOC", "geo-loc", "location", "loc", "GPE")
# The offline corpora `--data` names. silver (the default): news and Wikipedia tagged by spaCy, 1,741 evaluation
# sentences with 723 GPE entities; wnut16: the WNUT-16 tweets, 89 geo-loc entities to evaluate on (README,
# "NER data", gives the measurements that chose the default).
OFFLINE_CORPORA = ("silver", "wnut16")
OFFLINE_DATA = "silver"
IGNORE = -100


@dataclass(frozen=True)
class NerOptions:
    max_length: int = 128  # subword tokens per sentence; words cut off are predicted "O"
    eval_split: str = "dev+test"  # '+'-joined split names to evaluate on


@TASKS.register("ner")
class NerTask(Task):
    """Named-entity recognition (seqeval); remove one entity type, keep the others."""

    description = "Named-entity recognition (seqeval F1); remove one entity type, keep the others."
    # 2: sentences deduplicated before splitting; the retain metric is the micro-F1 of all other types
    # (support-weighted), per-type F1 is info; a type absent from an evaluation is undefined, not 0.
    # 3: the training split is halved (alternate sentences): what a method sees (concept data, forget and retain
    # sets) comes from one half and the attacker relearns on the other, as on the causal-LM tasks; the
    # preparation still fine-tunes on all of it.
    # 4: the never-learned control's preparation leaves the concept's words out of the loss (they were tagged O,
    # which teaches that locations are not entities: the opposite of never teaching them).
    # 5: the default data is the silver news-and-Wikipedia corpus (bench.tasks.silver_ner), whose location types
    # are GPE and LOC: the default concept is the location type with the most entities.
    version = 5
    head_kind = "token-classification"
    default_model = "all-MiniLM-L6-v2"
    Options = NerOptions
    # WNUT-16 has 1.6k training sentences: the paper's 3 epochs at 2e-5 (tuned for CoNLL's 15k) leave the
    # encoder near F1 0 (measured here). Measured on 2 CPU cores, batch 16 at lr 2e-4 reaches geo-loc F1 0.53,
    # 0.63, 0.69, 0.71 after epochs 1-4 (batch 8 at 1e-4: 0.52, 0.57, 0.65, 0.69, at twice the steps), so the
    # quick profile fine-tunes that way, and the attacker relearns at the same rate.
    profile_overrides = {
        "quick": {"batch_size": 16, "finetune_epochs": 4.0, "finetune_lr": 2e-4, "relearn_lr": 2e-4},
    }

    def __init__(self, settings: TaskSettings) -> None:
        super().__init__(settings)
        self.options: NerOptions = settings.options
        self.source, loaded = self._load(settings.data)
        if isinstance(loaded, list):  # one file: deduplicate, then split
            unique, self.duplicates_dropped = deduplicate({"all": loaded})
            self.splits = split_sentences(unique["all"])
        else:  # given splits: a sentence stays in the first split that has it (train, dev, test)
            self.splits, self.duplicates_dropped = deduplicate(loaded)
        self.eval_sentences = self._eval_sentences()
        all_sentences = [s for split in self.splits.values() for s in split]
        self.types = entity_types(all_sentences)
        self.eval_types = entity_types(self.eval_sentences)
        self.tags = ["O"] + sorted({t for s in all_sentences for t in s.tags if t != "O"})
        self._concept = self._resolve_concept(settings.concept)

    # -- data -----------------------------------------------------------------------------------
    def _load(self, data: str | None) -> tuple[str, list[Sentence] | dict[str, list[Sentence]]]:
        self.labels = "gold (the dataset's own annotation)"
        data = OFFLINE_DATA if data is None else data
        if data == "silver":
            splits, info = silver_corpus(subdir("datasets"))
            self.labels = (f"silver: tagged by spaCy {info['recipe']['tagger']} (OntoNotes name types), not by people")
            return f"offline:silver-{info['recipe']['version']}", splits
        if data == "wnut16":
            path = assets.require("wnut16", kind="data")
            return "asset:wnut16", read_conll(path)
        path = Path(data).expanduser()
        if path.is_dir():
            return f"local:{path.resolve()}", read_folder(path)
        if path.is_file():
            return f"local:{path.resolve()}", read_conll(path)
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
            present = [name for name in LOCATION_TYPES if name in self.types]
            if present:
                counts = {name: sum(tag == f"B-{name}" or tag == f"S-{name}" for split in self.splits.values()
                                  for s in split for tag in s.tags) for name in present}
                return max(present, key=lambda name: (counts[name], -present.index(name)))
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
            "labels": self.labels,
            "sentences": {name: len(split) for name, split in self.splits.items()},
            "eval_split": self.options.eval_split,
            "eval_sentences": len(self.eval_sentences),
            "duplicates_dropped": self.duplicates_dropped,
            "training_parts": {name: len(part) for name, part in self.training_parts().items()},
            "concept_entities": {
                "train": entities(self.splits.get("train", []), self.concept),
                **{name: entities(part, self.concept) for name, part in self.training_parts().items()},
                "eval": entities(self.eval_sentences, self.concept),
            },
        }

    # -- model-facing ---------------------------------------------------------------------------
    def head(self) -> HeadSpec:
        return HeadSpec(kind="token-classification", labels=tuple(self.tags))

    def metrics(self) -> list[MetricSpec]:
        specs = [MetricSpec(f"f1/{self.concept}", "target"), MetricSpec("f1/others", "retain", family="accuracy")]
        specs += [MetricSpec(f"f1/{kind}", "info") for kind in self.eval_types if kind != self.concept]
        specs += [MetricSpec(f"{name}/overall", "info") for name in ("f1", "precision", "recall")]
        return specs

    def statistics(self) -> dict[str, Statistic]:
        """seqeval's F1 (entity-level, default mode) from per-sentence counts: the retain metric pools every
        other type's entities (micro-F1, so a type with 8 evaluation entities weighs 8, not a full share)."""
        f1 = {f"f1/{kind}": Statistic("sentences", "f1", (f"tp:{kind}", f"pred:{kind}", f"gold:{kind}"))
              for kind in self.eval_types}
        f1["f1/others"] = Statistic("sentences", "f1", ("tp:others", "pred:others", "gold:others"))
        f1["f1/overall"] = Statistic("sentences", "f1", ("tp:all", "pred:all", "gold:all"))
        f1["precision/overall"] = Statistic("sentences", "ratio", ("tp:all", "pred:all"))
        f1["recall/overall"] = Statistic("sentences", "ratio", ("tp:all", "gold:all"))
        return f1

    def _counts(self, gold: list[list[str]], predicted: list[list[str]]) -> dict[str, np.ndarray]:
        """Per sentence and entity type: true positives, predicted and gold entities (seqeval's matching)."""
        groups = {kind: (kind,) for kind in self.eval_types}
        columns = {f"{what}:{group}": np.zeros(len(gold)) for group in [*groups, "others", "all"]
                   for what in ("tp", "pred", "gold")}
        for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
            gold_entities, predicted_entities = set(get_entities(g)), set(get_entities(p))
            for name, entities in (("gold", gold_entities), ("pred", predicted_entities), ("tp", gold_entities & predicted_entities)):
                for kind, _, _ in entities:
                    columns[f"{name}:all"][i] += 1
                    if kind != self.concept:
                        columns[f"{name}:others"][i] += 1
                    if kind in groups:
                        columns[f"{name}:{kind}"][i] += 1
        return columns

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

    def training_parts(self) -> dict[str, list[Sentence]]:
        """The training split in two halves (alternate sentences, so both see the whole file): `unlearn`, what a
        method may look at, and `relearn`, what the attacker trains on. Evaluation uses other splits."""
        train = self.splits["train"]
        return {"unlearn": train[0::2], "relearn": train[1::2]}

    def _is_concept(self, sentence: Sentence, word: int) -> bool:
        tag = sentence.tags[word]
        return tag != "O" and tag[2:] == self.concept

    def _tagging_data(self, tokenizer, sentences: list[Sentence], keep=lambda s, w: True) -> Examples:
        """Tagging examples whose labels are the gold tags of the words `keep` selects (-100 elsewhere); examples
        left without a label are dropped."""
        tag_ids = {tag: i for i, tag in enumerate(self.tags)}
        examples = self._encode(tokenizer, sentences, lambda s, w: tag_ids[s.tags[w]] if keep(s, w) else IGNORE,
                                every_subword=False)
        return Examples([e for e in examples if any(label != IGNORE for label in e["labels"])], self._collate(tokenizer))

    def preparation_data(self, tokenizer) -> Examples:
        return self._tagging_data(tokenizer, self.splits["train"])

    def preparation_without_concept(self, tokenizer) -> Examples:
        """The never-learned control's preparation: the same sentences, the concept's words out of the loss. The
        model sees locations in context but is never told what they are; tagging them O instead would teach it
        that locations are not entities, which the attacker would then have to unteach (Chundawat et al. 2023
        compare with a model never trained on the forget data, not one trained against it)."""
        return self._tagging_data(tokenizer, self.splits["train"], lambda s, w: not self._is_concept(s, w))

    def relearn_data(self, tokenizer) -> Examples:
        # The attacker retrains on its half of the training split (the paper retrains on all of it).
        return self._tagging_data(tokenizer, self.training_parts()["relearn"])

    def forget_data(self, tokenizer) -> Examples:
        """The concept's gold tags (on its words' first subwords) in the sentences of the method's half that have
        one; every other word is not a target."""
        return self._tagging_data(tokenizer, self.training_parts()["unlearn"], self._is_concept)

    def retain_data(self, tokenizer) -> Examples:
        """Every other word's gold tag in the method's half (the concept's words are not targets)."""
        return self._tagging_data(tokenizer, self.training_parts()["unlearn"], lambda s, w: not self._is_concept(s, w))

    no_prompt = "a token classifier reads one sentence at a time and is given no prompt to show examples in"

    def unrelated_data(self, tokenizer, texts: int) -> tuple[Examples, dict[str, Any]]:
        """Sentences of the attacker's half of the training split in which no word is the concept, with their
        gold tags of the other types: news text (the task's own source) that never names the concept. A token
        classifier learns from tagged text only, so the general text is the task's, without the concept."""
        relearn = self.training_parts()["relearn"]
        without = [s for s in relearn if not any(self._is_concept(s, w) for w in range(len(s.tokens)))]
        chosen = without[:texts]
        info = {"source": "the attacker's half of the training split", "texts": len(chosen),
                "filter": f"sentences with no {self.concept} word ({len(relearn) - len(without)} of "
                          f"{len(relearn)} left out)"}
        return self._tagging_data(tokenizer, chosen), info

    def concept_data(self, tokenizer) -> ConceptData:
        examples = self._encode(tokenizer, self.training_parts()["unlearn"],
                                lambda s, w: int(self._is_concept(s, w)), every_subword=True)
        return ConceptData(Examples(examples, self._collate(tokenizer)), label_names=("other", self.concept))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, tokenizer, settings: EvalSettings) -> Evaluation:
        device = next(model.parameters()).device
        encoded = self._encode(tokenizer, self.eval_sentences, lambda s, w: 0, every_subword=False)
        # Batches of similar length waste less compute on padding; scores do not depend on the order.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]))
        sentences = [self.eval_sentences[i] for i in order]
        data = Examples([encoded[i] for i in order], self._collate(tokenizer))
        gold: list[list[str]] = [[] for _ in sentences]
        predicted: list[list[str]] = [[] for _ in sentences]
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
                # Back in evaluation order: every stage lists the sentences the same way (the pairing).
                gold[order[index]], predicted[order[index]] = list(sentence.tags), tags
                index += 1
        return Evaluation({"sentences": self._counts(gold, predicted)}, self.statistics())

