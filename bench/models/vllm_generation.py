"""GPU sampling with vLLM: the toxicity task's completions (`--task-option generation=vllm`) and the `vllm`
chat backend (SNIP's local explainer). Hugging Face `generate` stays the CPU path and the default.

vLLM runs no Python hooks, so a pruning mask must be in the weights it loads. For MLP units it is: while a
mask is applied the pruned units' weights are zero (and stay zero through relearning), and
`bench.neurons.masks.materialised_state` writes exactly the weights whose hook-free forward pass equals the
hooked one (tested on CPU for every architecture family). A mask of block-output dimensions lives in hooks
only: sampling under it with vLLM is refused rather than done without the mask.

Each evaluation stage snapshots the current weights into a temporary folder and starts an engine on it (the
weights change between stages); the engine is torn down after sampling to free the GPU for training.
"""

from __future__ import annotations

import gc
import importlib.util
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from bench.core.errors import BenchError

# The share of GPU memory an engine may take: the model being trained (and its optimizer state) holds the rest.
GPU_MEMORY_SHARE = 0.35


def require_vllm() -> None:
    """vLLM and a CUDA GPU, or a clear error (there is no silent switch to another generator)."""
    if importlib.util.find_spec("vllm") is None:
        raise BenchError("generation 'vllm' needs vLLM (pip install vllm, on a machine with a CUDA GPU); "
                         "generation 'hf' (the default) runs everywhere")
    if not torch.cuda.is_available():
        raise BenchError("generation 'vllm' needs a CUDA GPU; generation 'hf' (the default) runs on the CPU")


def snapshot_folder(model: nn.Module, tokenizer, state: dict[str, torch.Tensor] | None = None) -> Path:
    """The model (or `state`, e.g. materialised mask weights) and its tokenizer in a folder vLLM can load."""
    folder = Path(tempfile.mkdtemp(prefix="bench-vllm-"))
    model.save_pretrained(folder, state_dict=state if state is not None else model.state_dict(), safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


class Engine:
    """One vLLM engine over a model folder; a context manager that frees the GPU when it ends."""

    def __init__(self, folder: Path | str, *, seed: int = 0, dtype: str = "bfloat16", temporary: bool = False) -> None:
        require_vllm()
        from vllm import LLM

        self.folder, self.temporary = folder, temporary
        gc.collect()
        torch.cuda.empty_cache()  # vLLM sizes its cache from the memory free at its start
        try:
            self.llm = LLM(model=str(folder), tokenizer=str(folder), dtype=dtype, seed=seed,
                           gpu_memory_utilization=GPU_MEMORY_SHARE, enforce_eager=True)
        except BaseException:
            if temporary:
                shutil.rmtree(folder, ignore_errors=True)
            raise

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Free the engine's GPU memory (`del` alone does not release all of it)."""
        if getattr(self, "llm", None) is None:
            return
        self.llm = None
        try:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

            cleanup_dist_env_and_memory()
        except ImportError:  # older or newer vLLM without it: collect what Python can
            pass
        gc.collect()
        torch.cuda.empty_cache()
        if self.temporary:
            shutil.rmtree(self.folder, ignore_errors=True)

    def generate(self, prompts: Sequence[str | list[int]], params: Sequence) -> list[str]:
        from vllm.inputs import TextPrompt, TokensPrompt

        inputs = [TokensPrompt(prompt_token_ids=p) if isinstance(p, list) else TextPrompt(prompt=p) for p in prompts]
        outputs = self.llm.generate(inputs, list(params), use_tqdm=False)
        return [output.outputs[0].text for output in outputs]


def sample_completions_vllm(model: nn.Module, tokenizer, prompts: Sequence[str], settings,
                            state: dict[str, torch.Tensor] | None = None) -> list[str]:
    """One sampled completion per prompt, as `sample_completions` does (top-k, temperature, new tokens), each
    request seeded with (seed, i). The texts differ from Hugging Face's for the same seed (another sampler,
    bf16 kernels); the scores they give must agree within sampling error."""
    require_vllm()
    from vllm import SamplingParams

    params = [SamplingParams(n=1, top_k=settings.top_k, top_p=1.0, temperature=settings.temperature,
                             max_tokens=settings.max_new_tokens, seed=settings.seed * 1_000_003 + i)
              for i in range(len(prompts))]
    with Engine(snapshot_folder(model, tokenizer, state), seed=settings.seed, temporary=True) as engine:
        return engine.generate(list(prompts), params)
