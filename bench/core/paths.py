"""Where relearn-bench keeps its caches and results (one folder, `$BENCH_HOME`)."""

from __future__ import annotations

import os
from pathlib import Path


def bench_home() -> Path:
    """Root of everything relearn-bench writes: assets, prepared models, run records, the store."""
    home = os.environ.get("BENCH_HOME")
    root = Path(home) if home else Path.home() / ".cache" / "relearn-bench"
    root.mkdir(parents=True, exist_ok=True)
    return root


def subdir(name: str) -> Path:
    path = bench_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
