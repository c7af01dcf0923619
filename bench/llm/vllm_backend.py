"""The `vllm` chat backend: the `local` backend's model and prompts, decoded greedily by vLLM on a CUDA GPU
(for SNIP's explanations at paper scale). Its replies are cached under their own identity: vLLM's bf16
kernels need not give the same greedy text as transformers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from bench.core.plugins import CHAT_BACKENDS
from bench.core.progress import bar
from bench.llm.chat import ChatRequest, ChatSettings
from bench.llm.local_backend import LocalChat


@CHAT_BACKENDS.register("vllm")
class VllmChat(LocalChat):
    """An instruct causal LM decoded by vLLM on a CUDA GPU (offline asset name, local folder or hub id)."""

    def __init__(self, settings: ChatSettings) -> None:
        from bench.models.loading import locate_model
        from bench.models.vllm_generation import Engine, require_vllm

        require_vllm()
        super().__init__(dataclasses.replace(settings, device=torch.device("cpu")))  # the fingerprint, the tokenizer
        self.model = None  # vLLM holds the weights
        self.engine = Engine(locate_model(self.ref)[1])

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "backend": "vllm"}

    def answer(self, requests: list[ChatRequest], on_reply: Callable[[int, str], None], description: str) -> None:
        from vllm import SamplingParams

        params = [SamplingParams(temperature=0.0, max_tokens=r.max_tokens, repetition_penalty=self.repetition_penalty)
                  for r in requests]
        with bar(description, len(requests)) as progress:
            texts = self.engine.generate([self.prompt_ids(r) for r in requests], params)
            for i, text in enumerate(texts):
                on_reply(i, (requests[i].reply_prefix + text).strip())
            progress.advance(len(requests))
