"""The numeric precision a model runs in: bf16/fp16 autocast on CUDA, full precision elsewhere. Training,
evaluation and sampling all enter it the same way, so a run's dtype is one setting."""

from __future__ import annotations

from contextlib import nullcontext

import torch


def autocast_for(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for CUDA with `dtype`; a no-op on CPU (the CPU runs stay in fp32) or without a dtype."""
    if dtype is None or device.type != "cuda":
        return nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)
