"""CoNLL-format NER data: reading (with file:line errors), hub loading, and a deterministic split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bench.core.errors import BenchError, DataFormatError


@dataclass(frozen=True)
class Sentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]


def read_conll(path: str | Path) -> list[Sentence]:
    """Token per line, tag in the last column (tab- or space-separated), blank line between sentences.

    Covers WNUT (`token<TAB>tag`) and CoNLL-2003 (`token POS chunk tag`); `-DOCSTART-` lines are skipped.
    """
    path = Path(path)
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                if tokens:
                    sentences.append(Sentence(tuple(tokens), tuple(tags)))
                    tokens, tags = [], []
                continue
            columns = line.split("\t") if "\t" in line else line.split()
            if len(columns) < 2:
                raise DataFormatError(str(path), number, f"expected 'token<TAB>tag', got {line!r}")
            token, tag = columns[0].strip(), columns[-1].strip()
            if token == "-DOCSTART-":
                continue
            if not token:
                raise DataFormatError(str(path), number, "empty token")
            if not _valid_tag(tag):
                raise DataFormatError(str(path), number, f"tag {tag!r} is not O or B-/I-/E-/S-<type>")
            tokens.append(token)
            tags.append(tag)
    if tokens:
        sentences.append(Sentence(tuple(tokens), tuple(tags)))
    if not sentences:
        raise DataFormatError(str(path), 1, "no sentences found")
    return sentences


def _valid_tag(tag: str) -> bool:
    return tag == "O" or (len(tag) > 2 and tag[0] in "BIES" and tag[1] == "-")


def entity_types(sentences: list[Sentence]) -> list[str]:
    return sorted({tag[2:] for s in sentences for tag in s.tags if tag != "O"})


def deduplicate(splits: dict[str, list[Sentence]], order: tuple[str, ...] = ("train", "dev", "test")
                ) -> tuple[dict[str, list[Sentence]], int]:
    """Every sentence (by its tokens) kept once, in the first split of `order` that has it: an evaluation
    sentence that is also a training sentence would be scored on what the model was trained on (WNUT-16's
    file repeats 99 of its 2,394 sentences; 41 of them landed on both sides of the split). Returns the
    splits and how many sentences were dropped."""
    seen: set[tuple[str, ...]] = set()
    out: dict[str, list[Sentence]] = {}
    dropped = 0
    for name in [*[n for n in order if n in splits], *[n for n in splits if n not in order]]:
        out[name] = []
        for sentence in splits[name]:
            if sentence.tokens in seen:
                dropped += 1
                continue
            seen.add(sentence.tokens)
            out[name].append(sentence)
    return out, dropped


def split_sentences(sentences: list[Sentence], train: int = 70, dev: int = 15) -> dict[str, list[Sentence]]:
    """Deterministic train/dev/test split by a hash of each sentence: no RNG, stable across library versions."""
    splits: dict[str, list[Sentence]] = {"train": [], "dev": [], "test": []}
    for index, sentence in enumerate(sentences):
        key = f"{index}\t{' '.join(sentence.tokens)}".encode()
        bucket = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % 100
        name = "train" if bucket < train else "dev" if bucket < train + dev else "test"
        splits[name].append(sentence)
    return splits


def read_folder(path: Path) -> dict[str, list[Sentence]]:
    """A folder with train/dev/test files (dev may be called valid or validation)."""
    names = {"train": ("train",), "dev": ("dev", "valid", "validation"), "test": ("test",)}
    splits = {}
    for split, stems in names.items():
        candidates = [p for stem in stems for p in sorted(path.glob(f"{stem}.*")) if p.is_file()]
        if not candidates:
            raise BenchError(f"{path}: no {split} file (looked for {', '.join(s + '.*' for s in stems)})")
        splits[split] = read_conll(candidates[0])
    return splits


def load_hub(dataset_id: str) -> dict[str, list[Sentence]]:
    """A hub dataset with `tokens` and `ner_tags` (ClassLabel) columns, e.g. conll2003."""
    try:
        import datasets
    except ImportError as exc:
        raise BenchError("loading NER data from the hub needs the `datasets` package") from exc
    try:
        loaded = datasets.load_dataset(dataset_id)
    except Exception as exc:  # the hub client raises many types; all mean "not available here"
        raise BenchError(
            f"could not load NER dataset {dataset_id!r} from the hub ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "give a local CoNLL file or folder, or leave --data unset for the offline WNUT-16 set"
        ) from exc
    rename = {"validation": "dev", "valid": "dev"}
    splits: dict[str, list[Sentence]] = {}
    for split_name, table in loaded.items():
        names = table.features["ner_tags"].feature.names
        splits[rename.get(split_name, split_name)] = [
            Sentence(tuple(row["tokens"]), tuple(names[t] for t in row["ner_tags"])) for row in table
        ]
    missing = {"train", "test"} - set(splits)
    if missing:
        raise BenchError(f"hub dataset {dataset_id!r} has no {', '.join(sorted(missing))} split")
    return splits
