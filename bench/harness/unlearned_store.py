"""The unlearned model, kept for the next attack on it: runs that differ only in the attack (a sweep crossing
one unlearned model with several attacks) unlearn once. The key is the unlearned model's own run id (every
setting but the attacker's, bench.harness.caches.unlearned_id); what is kept is what the method produced: its
mask and ranking, its report, and, when it edited weights, the edited weights themselves. Loading them gives
the very model the first run attacked, so a run's numbers do not depend on whether it unlearned or loaded (the
attacks seed themselves).

Edited weights are large (0.5 GB for SmolLM2-135M in float32), so the store keeps at most
`$BENCH_UNLEARNED_GB` gigabytes (default 4), dropping the least recently used first; `0` turns it off. A sweep
plans the attacks of one unlearned model next to each other, so they find it kept."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from bench.api.method import UnlearningResult
from bench.core.errors import BenchError
from bench.core.files import write_json_atomic
from bench.core.paths import subdir
from bench.core.progress import console
from bench.neurons.masks import UnitMask

DEFAULT_GB = 4.0
META, MASK, SCORES, WEIGHTS = "unlearned.json", "mask.safetensors", "scores.safetensors", "weights.safetensors"


def store_limit_bytes() -> int:
    raw = os.environ.get("BENCH_UNLEARNED_GB", str(DEFAULT_GB))
    try:
        limit = float(raw)
    except ValueError:
        raise BenchError(f"BENCH_UNLEARNED_GB must be a number of gigabytes, got {raw!r}") from None
    if limit < 0:
        raise BenchError(f"BENCH_UNLEARNED_GB must be at least 0, got {raw!r}")
    return int(limit * 1e9)


@dataclass
class Unlearned:
    result: UnlearningResult
    seconds: float  # what the unlearning itself took (in the run that did it)
    reused_from: str | None = None  # the run that unlearned, when this run loaded its model


def unlearn_once(key: str, run_id: str, model: nn.Module, unlearn: Callable[[], UnlearningResult], *,
                 fresh: bool = False) -> Unlearned:
    """`unlearn()`'s result for this key: loaded into `model` when a run with the same key kept it, computed
    (and kept, replacing what was kept) otherwise or when `fresh`. Runs with one key that start together unlearn
    once: the others wait, then load."""
    limit = store_limit_bytes()
    if limit == 0:
        return _timed(unlearn)
    root = subdir("unlearned")
    folder = root / key
    with FileLock(root / f"{key}.lock"):
        if (folder / META).exists() and not fresh:
            try:
                return _load(folder, model)
            except Exception as exc:  # evicted meanwhile, or unreadable: unlearn again (the model is untouched
                # unless the weights loaded, and a partial load raises before any tensor is copied)
                console.print(f"[yellow]could not load the kept unlearned model {folder} "
                              f"({type(exc).__name__}: {exc}); unlearning again[/]")
        done = _timed(unlearn)
        _keep(folder, model, done, run_id, limit)
        return done


def _timed(unlearn: Callable[[], UnlearningResult]) -> Unlearned:
    start = time.perf_counter()
    result = unlearn()
    return Unlearned(result, time.perf_counter() - start)


def _keep(folder: Path, model: nn.Module, done: Unlearned, run_id: str, limit: int) -> None:
    result = done.result
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values()) if result.edited else 0
    if size > limit:
        console.print(f"[dim]unlearned weights ({size / 1e9:.1f} GB) exceed BENCH_UNLEARNED_GB; not kept[/]")
        return
    meta = {"run_id": run_id, "seconds": round(done.seconds, 3), "k_requested": result.k_requested,
            "info": result.info, "files": result.files, "edited": result.edited, "budget": result.budget,
            "mask": result.mask is not None, "scores": result.scores is not None}
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        staging = Path(tmp) / folder.name
        staging.mkdir()
        if result.mask is not None:
            result.mask.save(staging / MASK)
        if result.scores is not None:
            save_file({"scores": result.scores.detach().cpu().contiguous()}, str(staging / SCORES))
        if result.edited:
            save_model(model, str(staging / WEIGHTS))  # tied weights saved once, restored by load_model
        write_json_atomic(staging / META, meta)  # written last: a folder without it is not kept
        if folder.exists():
            folder.rename(Path(tmp) / "stale")
        staging.rename(folder)
    _evict(folder.parent, limit, keep=folder)


def _load(folder: Path, model: nn.Module) -> Unlearned:
    meta = json.loads((folder / META).read_text())
    mask = UnitMask.load(folder / MASK) if meta["mask"] else None
    scores = load_file(str(folder / SCORES))["scores"] if meta["scores"] else None
    if meta["edited"]:
        load_model(model, str(folder / WEIGHTS), strict=True)  # refuses weights of another architecture
    os.utime(folder / META)  # recently used: evicted last
    result = UnlearningResult(mask=mask, k_requested=meta["k_requested"], scores=scores, info=meta["info"],
                              files=meta["files"], edited=meta["edited"], budget=meta["budget"])
    console.print(f"[green]unlearned model reused[/] from run {meta['run_id']} (which unlearned in "
                  f"{meta['seconds']:.1f} s): only the attack differs")
    return Unlearned(result, meta["seconds"], reused_from=meta["run_id"])


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def _evict(root: Path, limit: int, keep: Path) -> None:
    """Drop the least recently used kept models until the store fits its limit (never the one just kept)."""
    kept = [f for f in root.iterdir() if f.is_dir() and (f / META).exists()]
    total = sum(_size(f) for f in kept)
    for folder in sorted(kept, key=lambda f: (f / META).stat().st_mtime):
        if total <= limit:
            break
        if folder == keep:
            continue
        try:  # not while another run loads or keeps it; never waiting, so two runs evicting cannot deadlock
            with FileLock(root / f"{folder.name}.lock", timeout=0):
                total -= _size(folder)
                shutil.rmtree(folder, ignore_errors=True)
        except Timeout:
            continue

