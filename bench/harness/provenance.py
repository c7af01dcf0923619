"""What a result was computed with: package versions, device, dtype, batch sizes, seed."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("relearn-bench", "torch", "transformers", "tokenizers", "datasets", "seqeval", "numpy", "safetensors")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return versions


def device_description(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {"type": "cuda", "name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                "cuda": torch.version.cuda}
    return {"type": device.type, "name": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "cpus": os.cpu_count()}


def git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(device: torch.device, autocast_dtype: torch.dtype | None, batch_size: int, eval_batch_size: int,
               seed: int) -> dict[str, Any]:
    return {
        "versions": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device_description(device),
        "dtype": "float32" + (f" + {str(autocast_dtype).replace('torch.', '')} autocast" if autocast_dtype else ""),
        "batch_size": batch_size,
        "eval_batch_size": eval_batch_size,
        "seed": seed,
        "git_commit": git_commit(),
    }
