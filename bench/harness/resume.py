"""Relearning that survives being killed: its state at each evaluation checkpoint, in one file per run.

A run's relearning is its longest stage (hours on a CPU, for a 256-step attack on a causal LM). At every
evaluation checkpoint the protocol saves the weights, the optimizer and schedule state, every random state
and the stages evaluated so far; a run started again with the same id (so the same config, weights and
data) loads it and goes on from that step. On a CPU the resumed run's record is bit for bit the record of
an uninterrupted run (timings and creation time aside). The file is written whole and renamed into place,
so a kill during the save leaves the previous checkpoint, and it is deleted once the record is written.

The file is a pickle made by this process for this run (random states and numpy arrays are not plain
tensors), read back only from `$BENCH_HOME/checkpoints/<run id>.pt`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.core.errors import BenchError
from bench.core.files import atomic_file
from bench.core.paths import subdir

FORMAT = 1


def code_identity() -> str:
    """The code that wrote a checkpoint: a run resumed by other code would splice two versions' stages."""
    from bench.core.version import __version__
    from bench.harness.provenance import git_commit

    return f"{__version__} {git_commit() or 'no git'}"


@dataclass
class Saved:
    step: int
    progress: Any  # whatever the caller saved with the state (its stages so far)


def random_states() -> dict[str, Any]:
    states = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class RelearnState:
    """The saved relearning state of one run."""

    def __init__(self, run_id: str, folder: Path | None = None) -> None:
        self.run_id = run_id
        self.path = (folder or subdir("checkpoints")) / f"{run_id}.pt"

    def exists(self) -> bool:
        return self.path.exists()

    def save(self, step: int, model: torch.nn.Module, optimizer, schedule, progress: Any) -> None:
        payload = {"format": FORMAT, "run_id": self.run_id, "code": code_identity(), "step": step,
                   "model": model.state_dict(),
                   "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                   "random": random_states(), "progress": progress}
        with atomic_file(self.path) as handle:  # a full disk or a kill leaves the previous checkpoint whole
            torch.save(payload, handle)

    def restore(self, model: torch.nn.Module, optimizer, schedule) -> Saved | None:
        """Load the saved state into these objects (and the process's random states); None if there is none,
        or if it was written for another run or by other code (checked before anything is touched: relearning
        then starts over from the objects as they are)."""
        if not self.path.exists():
            return None
        payload = torch.load(self.path, map_location="cpu", weights_only=False)
        if payload.get("format") != FORMAT or payload.get("run_id") != self.run_id:
            return None
        if payload.get("code") != code_identity():
            from bench.core.progress import console

            console.print(f"[yellow]{self.path} was written by other code ({payload.get('code')}, now "
                          f"{code_identity()}): relearning starts over[/]")
            return None
        try:
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            schedule.load_state_dict(payload["schedule"])
            set_random_states(payload["random"])
        except Exception as exc:  # the model may be half loaded: going on would record a mixture
            raise BenchError(f"{self.path} could not be restored ({type(exc).__name__}: {exc}); delete it to run "
                             "relearning from the start") from exc
        return Saved(payload["step"], payload["progress"])

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
