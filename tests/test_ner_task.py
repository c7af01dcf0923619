"""The ner task: data, concept choice, concept labels, and seqeval scoring through subword alignment."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from bench.api.task import EvalSettings, TaskSettings
from bench.core.errors import BenchError, UnknownNameError
from bench.tasks.ner import NerOptions, NerTask
from bench.testing import tiny_tokenizer


def make_task(path, concept=None, **options):
    return NerTask(TaskSettings(concept=concept, data=str(path), seed=0, max_eval_examples=None,
                                options=NerOptions(**options)))


class Oracle(nn.Module):
    """Predicts each subword's tag from a lookup of the sentence's gold tags (optionally hiding a type)."""

    def __init__(self, task, tokenizer, hide=None):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.n = len(task.tags)
        self.table = {}
        for sentence in task.eval_sentences:
            enc = tokenizer(list(sentence.tokens), is_split_into_words=True, truncation=True,
                            max_length=task.options.max_length)
            tags = [sentence.tags[w] if w is not None else "O" for w in enc.word_ids()]
            tags = ["O" if hide and t.endswith(hide) else t for t in tags]
            self.table[tuple(enc["input_ids"])] = [task.tags.index(t) for t in tags]

    def forward(self, input_ids, attention_mask):
        logits = torch.zeros(*input_ids.shape, self.n)
        for row in range(input_ids.shape[0]):
            ids = tuple(input_ids[row][attention_mask[row].bool()].tolist())
            for position, label in enumerate(self.table[ids]):
                logits[row, position, label] = 1.0
        return SimpleNamespace(logits=logits)


def test_default_concept_is_the_location_type_and_metrics_are_declared(tiny_conll):
    task = make_task(tiny_conll)
    assert task.concept == "geo-loc"
    roles = {m.name: m.role for m in task.metrics()}
    assert roles["f1/geo-loc"] == "target"
    # One retain metric: the micro-F1 of every other type (support-weighted); per-type F1 is information.
    assert roles["f1/others"] == "retain" and roles["f1/person"] == roles["f1/company"] == "info"
    assert task.metrics()[0].name == "f1/geo-loc"
    assert task.head().labels[0] == "O" and "B-geo-loc" in task.head().labels


def test_unknown_concept_lists_the_entity_types(tiny_conll):
    with pytest.raises(UnknownNameError, match="unknown concept.*'city'.*choices: company, geo-loc, person"):
        make_task(tiny_conll, concept="city")


def test_perfect_predictions_score_one_and_hiding_the_concept_scores_zero(tiny_conll, tmp_path):
    task = make_task(tiny_conll)
    tokenizer = tiny_tokenizer()
    settings = EvalSettings(batch_size=7, autocast_dtype=None)
    perfect = task.evaluate(Oracle(task, tokenizer), tokenizer, settings).scores()
    assert perfect["f1/overall"] == 1.0 and perfect["f1/geo-loc"] == 1.0 and perfect["f1/person"] == 1.0
    hidden = task.evaluate(Oracle(task, tokenizer, hide="geo-loc"), tokenizer, settings).scores()
    assert hidden["f1/geo-loc"] == 0.0
    assert hidden["f1/person"] == 1.0 and hidden["f1/company"] == 1.0 and hidden["f1/others"] == 1.0


def test_words_cut_off_by_max_length_count_as_misses(tiny_conll, tmp_path):
    task = make_task(tiny_conll, max_length=4)  # [CLS] + 2 words + [SEP]: later entities are cut off
    tokenizer = tiny_tokenizer()
    scores = task.evaluate(Oracle(task, tokenizer), tokenizer, EvalSettings(batch_size=8, autocast_dtype=None)).scores()
    assert scores["recall/overall"] < 1.0 and scores["precision/overall"] == 1.0


def test_concept_data_labels_every_subword_of_concept_words(tiny_conll, tmp_path):
    task = make_task(tiny_conll)
    tokenizer = tiny_tokenizer()
    concept = task.concept_data(tokenizer)
    assert concept.label_names == ("other", "geo-loc")
    index = next(i for i, s in enumerate(task.splits["train"]) if "Quitos" in s.tokens)
    sentence, example = task.splits["train"][index], concept.data.examples[index]
    tokens = tokenizer.convert_ids_to_tokens(example["input_ids"])
    is_concept = {"O": 0, "B-geo-loc": 1, "I-geo-loc": 1, "B-person": 0, "B-company": 0}
    expected = [-100] + [is_concept[tag] for tag in sentence.tags] + [-100]
    at = tokens.index("##s")
    expected.insert(at, 1)  # the second subword of "Quitos" is labelled like its word
    assert example["labels"] == expected, tokens


def test_eval_split_must_exist_and_hold_the_concept(tiny_conll):
    with pytest.raises(UnknownNameError, match="evaluation split"):
        make_task(tiny_conll, eval_split="validation")


def test_fingerprint_follows_the_data(tiny_conll, tmp_path):
    other = tmp_path / "other.conll"
    other.write_text(tiny_conll.read_text().replace("Paris", "Rome"))
    assert make_task(tiny_conll).fingerprint() == make_task(tiny_conll).fingerprint()
    assert make_task(tiny_conll).fingerprint() != make_task(other).fingerprint()


def test_data_that_is_neither_a_file_nor_a_hub_dataset_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(BenchError, match="could not load NER dataset 'no-such/dataset'"):
        make_task("no-such/dataset")


def test_hub_datasets_with_class_label_tags_are_converted(monkeypatch):
    """conll2003-style hub data (integer tags + ClassLabel names), built as a real DatasetDict in memory."""
    import datasets

    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})

    def split(rows):
        return datasets.Dataset.from_dict({"tokens": [r[0] for r in rows], "ner_tags": [r[1] for r in rows]},
                                          features=features)

    train = [(["John", "lives", "in", "New", "York", str(i)], [1, 0, 0, 3, 4, 0]) for i in range(5)]
    dev = [(["Ann", "visited", "Rome", str(i)], [1, 0, 3, 0]) for i in range(3)]
    test = [(["Ann", "visited", "Rome", str(i)], [1, 0, 3, 0]) for i in range(3, 6)]
    fake_hub = datasets.DatasetDict({"train": split(train + train[:1]), "validation": split(dev), "test": split(test + dev[:1])})
    monkeypatch.setattr(datasets, "load_dataset", lambda name: fake_hub if name == "conll2003" else None)
    task = make_task("conll2003")
    assert task.source == "hub:conll2003"
    assert task.concept == "LOC"  # the location type, whatever the dataset calls it
    assert task.splits["train"][0].tags == ("B-PER", "O", "O", "B-LOC", "I-LOC", "O")
    assert len(task.eval_sentences) == 6  # validation (as dev) + test, without the repeat of a dev sentence
    assert task.duplicates_dropped == 2 and task.describe_data()["duplicates_dropped"] == 2


def test_default_concept_is_the_location_type_with_the_most_entities(tmp_path):
    # OntoNotes has two location types: GPE (countries, cities) and LOC (rivers, mountains); the bigger one is
    # the concept, whichever comes first in the list of names.
    rows = [f"day\tO\n{i}\tO\n{row}" for i in range(20) for row in
            ("Paris\tB-GPE\nis\tO\nnice\tO", "the\tO\nAlps\tB-LOC\nand\tO\nRome\tB-GPE",
             "Bob\tB-PERSON\nleft\tO\nOslo\tB-GPE")]
    path = tmp_path / "both.conll"
    path.write_text("\n\n".join(rows) + "\n")
    task = make_task(path)
    assert task.concept == "GPE" and set(task.types) == {"GPE", "LOC", "PERSON"}
    assert make_task(path, concept="LOC").concept == "LOC"
