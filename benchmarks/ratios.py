"""Ratios for the performance suite: the machine's measured matmul rate, FLOPs counted by torch, and the
table of project ÷ bare-loop rates that `conftest.py` prints and writes at the end of a run.

A hot path is measured twice in the same run: the project's code, and a bare PyTorch / `transformers`
loop over the same inputs (same batches, dtype and device). Both are pytest-benchmark entries in one group,
so `--benchmark-compare` and the saved JSON keep them side by side; this module keeps what the ratio needs.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.core.files import write_text_atomic

RESULTS = Path(__file__).parent / "results"
TARGET_RATIO = 0.95  # every hot path at least this fraction of its bare loop's rate (issue: speed)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int | None = None, seconds: float = 2.0) -> float:
    """FLOP/s of a dense square matrix multiply, the best of repeated timings over about `seconds`.

    The size is large enough to be compute-bound (2,048 on a CPU, 8,192 on a GPU); the best timing is the
    rate the machine can reach, which is what a share of it should be measured against.
    """
    n = size or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)  # warm up the kernels and the allocator
    synchronize(device)
    best, spent = float("inf"), 0.0
    while spent < seconds or best == float("inf"):
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
    return 2 * n**3 / best


def count_flops(fn: Callable[[], Any]) -> int:
    """The FLOPs torch's counter sees in one call of `fn`: matrix multiplies (with torch 2.13 on a CPU the
    attention kernel is not counted, nor is element-wise work), so a share of the matmul rate is a lower
    bound: at 512 tokens SmolLM2's attention adds about 13% to the 2·N·T of its matrix multiplies."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


@dataclass
class Timing:
    seconds: float  # the fastest round (the rate this code can reach here)
    median_seconds: float
    flops: int


@dataclass
class HotPath:
    """One hot path: how many items one call processes, and the project's and the bare loop's timings."""

    name: str
    unit: str  # what an item is: steps, sentences, questions, windows, completions, texts, tokens
    items: int
    why: str = ""  # what the project does differently from the bare loop, where the rates differ
    timings: dict[str, Timing] = field(default_factory=dict)  # "project", "bare"

    def rate(self, impl: str) -> float | None:
        timing = self.timings.get(impl)
        return self.items / timing.seconds if timing else None

    def ratio(self) -> float | None:
        project, bare = self.rate("project"), self.rate("bare")
        return project / bare if project and bare else None

    def share(self, impl: str, peak: float) -> float | None:
        timing = self.timings.get(impl)
        return timing.flops / timing.seconds / peak if timing and timing.flops else None


@dataclass
class RatioTable:
    device: str
    peak_flops: dict[str, float] = field(default_factory=dict)  # dtype name -> measured matmul FLOP/s
    compute_dtype: str = "float32"  # what the hot paths compute in (bf16 autocast on CUDA): the peak to compare to
    paths: dict[str, HotPath] = field(default_factory=dict)

    def add(self, name: str, unit: str, items: int, impl: str, stats, flops: int, why: str = "") -> None:
        path = self.paths.setdefault(name, HotPath(name, unit, items, why))
        path.why = path.why or why
        path.timings[impl] = Timing(float(stats.min), float(stats.median), flops)

    def rows(self) -> list[dict[str, Any]]:
        peak = self.peak_flops.get(self.compute_dtype)
        out = []
        for path in self.paths.values():
            ratio = path.ratio()
            out.append({
                "path": path.name, "unit": path.unit, "items": path.items,
                "project_per_s": _round(path.rate("project")), "bare_per_s": _round(path.rate("bare")),
                "ratio": _round(ratio, 3), "meets_target": None if ratio is None else ratio >= TARGET_RATIO,
                "project_share_of_peak": _round(path.share("project", peak), 3) if peak else None,
                "bare_share_of_peak": _round(path.share("bare", peak), 3) if peak else None,
                "project_gflop_per_s": _round(path.timings["project"].flops / path.timings["project"].seconds / 1e9)
                if "project" in path.timings else None,
                "why": path.why,
            })
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "machine": machine(),
            "peak_flops": {k: round(v) for k, v in self.peak_flops.items()},
            "compute_dtype": self.compute_dtype,
            "target_ratio": TARGET_RATIO,
            "rows": self.rows(),
            "timings": {name: {impl: asdict(t) for impl, t in p.timings.items()} for name, p in self.paths.items()},
        }

    def write(self, folder: Path = RESULTS, name: str | None = None) -> Path:
        path = Path(folder) / f"{name or self.device}.json"
        write_text_atomic(path, json.dumps(self.to_json(), indent=1) + "\n")
        return path

    def lines(self) -> list[str]:
        peak = self.peak_flops.get(self.compute_dtype)
        head = (f"{'hot path':<26} {'unit':<12} {'project/s':>10} {'bare/s':>10} {'ratio':>7} "
                f"{'share of peak':>14}")
        out = [f"measured {self.compute_dtype} matmul rate: {peak / 1e9:.1f} GFLOP/s" if peak else "no peak measured", head]
        for row in self.rows():
            share = row["project_share_of_peak"]
            ratio = row["ratio"]
            flag = "" if ratio is None else ("" if row["meets_target"] else "  < target")
            out.append(f"{row['path']:<26} {row['unit']:<12} {_fmt(row['project_per_s']):>10} "
                       f"{_fmt(row['bare_per_s']):>10} {_fmt(ratio):>7} "
                       f"{'' if share is None else f'{share:.1%}':>14}{flag}")
        return out


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(),
                            "threads": torch.get_num_threads(), "cpu": _cpu_name()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
