"""The `local` chat backend: an instruct causal LM through transformers, greedy and batched.

The offline default is SmolLM2-135M-Instruct from the assets. Prompts are sorted by length before batching
so a batch pads little, and each batch is one left-padded generate() call with the KV cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from bench.core.plugins import CHAT_BACKENDS
from bench.core.progress import bar
from bench.llm.chat import ChatModel, ChatRequest, ChatSettings

DEFAULT_LOCAL_CHAT = "SmolLM2-135M-Instruct"


@CHAT_BACKENDS.register("local")
class LocalChat(ChatModel):
    """An instruct causal LM run here (offline asset name, local folder or hub id)."""

    def __init__(self, settings: ChatSettings) -> None:
        super().__init__(settings)
        from bench.models.loading import HeadSpec, load_model

        self.ref = settings.model or DEFAULT_LOCAL_CHAT
        loaded = load_model(self.ref, HeadSpec(kind="causal-lm"))
        self.fingerprint = loaded.fingerprint
        self.tokenizer = loaded.tokenizer
        self.device = settings.device or torch.device("cpu")
        self.model = loaded.model.to(self.device).eval()
        if not getattr(self.tokenizer, "chat_template", None):
            from bench.core.progress import console

            console.print(f"[yellow]note:[/] {self.ref} has no chat template (a base model): its prompts are plain "
                          "'role: text' turns ending in 'assistant: '")

    # Greedy decoding of a small model loops ("1. Unprofessional 2. Unprofessional ..."); a mild penalty
    # keeps lists and sentences moving.
    repetition_penalty = 1.3

    def identity(self) -> dict[str, Any]:
        return {"backend": "local", "model": self.ref, "weights": self.fingerprint,
                "repetition_penalty": self.repetition_penalty}

    def prompt_ids(self, request: ChatRequest) -> list[int]:
        messages = request.as_openai(prefix_as_instruction=False)
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:  # a base model: plain turns, ending where the assistant would speak
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        text += request.reply_prefix
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def answer(self, requests: list[ChatRequest], on_reply: Callable[[int, str], None], description: str) -> None:
        prompts = [self.prompt_ids(r) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: (requests[i].max_tokens, len(prompts[i])))
        size = max(1, self.settings.batch_size)
        pad = self.tokenizer.pad_token_id
        with bar(description, len(requests)) as progress:
            for start in range(0, len(order), size):
                chosen = order[start:start + size]
                width = max(len(prompts[i]) for i in chosen)
                ids = torch.full((len(chosen), width), pad, dtype=torch.long)
                mask = torch.zeros_like(ids)
                for row, i in enumerate(chosen):
                    ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
                    mask[row, width - len(prompts[i]):] = 1
                out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                          do_sample=False, repetition_penalty=self.repetition_penalty,
                                          max_new_tokens=max(requests[i].max_tokens for i in chosen),
                                          pad_token_id=pad)
                texts = self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
                for i, text in zip(chosen, texts):
                    on_reply(i, (requests[i].reply_prefix + text).strip())
                progress.advance(len(chosen))
