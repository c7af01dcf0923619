"""What a run id needs from a model without loading it: the weights' fingerprint and how many units each space
has, remembered per model folder and stamped with the name, size and modification time of each of its files.
The first plan on a machine loads each model once, and every later plan reads the stamp; a folder whose files
changed is loaded again. The run itself always fingerprints the weights it loaded and checks the plan's id
(bench.harness.resolution.resolve_run), so a stale stamp can never give a record the wrong id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from bench.core.files import write_json_atomic
from bench.core.paths import subdir

FACTS_FILE = "model-facts.json"


@dataclass(frozen=True)
class ModelFacts:
    """What a run id needs from a model: its weights' fingerprint and how many units each space has."""

    fingerprint: str
    units: dict[str, int]  # unit space -> number of units ("mlp", "hidden")


def folder_stamp(folder: Path) -> list[list[Any]]:
    """Name, size and modification time of every file under a model folder: cheap, and it changes when the
    weights are replaced."""
    return sorted([str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns]
                  for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                        p.relative_to(folder).parts))


def model_folder(source: str, where: str) -> Path | None:
    """The folder a located model is read from; a hub id resolves to its cached snapshot, when there is one."""
    if not source.startswith("hub:"):
        return Path(where)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(where, local_files_only=True))
    except Exception:  # not in the hub cache: the loader will say what is wrong, with the choices
        return None


def _facts_key(folder: Path | None, where: str, head_kind: str) -> tuple[str, list | None]:
    stamp = folder_stamp(folder) if folder is not None and folder.is_dir() else None
    key = hashlib.sha256(json.dumps([str(folder or where), head_kind]).encode()).hexdigest()[:16]
    return key, stamp


def _facts_path() -> Path:
    return subdir("plans") / FACTS_FILE


def recall_facts(source: str, where: str, head_kind: str) -> ModelFacts | None:
    key, stamp = _facts_key(model_folder(source, where), where, head_kind)
    path = _facts_path()
    if stamp is None or not path.exists():
        return None
    entry = json.loads(path.read_text()).get(key)
    if entry is None or entry["stamp"] != json.loads(json.dumps(stamp)):
        return None
    return ModelFacts(entry["fingerprint"], entry["units"])


def remember_facts(source: str, where: str, head_kind: str, facts: ModelFacts) -> None:
    key, stamp = _facts_key(model_folder(source, where), where, head_kind)
    if stamp is None:
        return
    path = _facts_path()
    with FileLock(path.with_suffix(".lock")):  # concurrent runs add their models without losing each other's
        known = json.loads(path.read_text()) if path.exists() else {}
        known[key] = {"stamp": stamp, **asdict(facts)}
        write_json_atomic(path, known)


def model_facts(ref: str, head) -> ModelFacts:
    """The facts of a model, from the stamp when its files have not changed, or else by loading it once."""
    from bench.models.loading import load_model, locate_model

    source, where = locate_model(ref)
    known = recall_facts(source, where, head.kind)
    if known is not None:
        return known
    loaded = load_model(ref, head)
    return learn_facts(ref, head, loaded.model, loaded.fingerprint)


def learn_facts(ref: str, head, model, fingerprint: str) -> ModelFacts:
    """Remember the facts of a model a run loaded anyway, so the next plan need not load it."""
    from bench.models.loading import locate_model
    from bench.neurons.units import SPACES, unit_space

    facts = ModelFacts(fingerprint, {name: unit_space(model, name).total for name in SPACES})
    source, where = locate_model(ref)
    remember_facts(source, where, head.kind, facts)
    return facts
