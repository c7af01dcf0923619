"""Chat backends (a registry: `openai`, `local`) behind one call, `complete`, which answers a list of requests
from the cache where it can and asks the backend for the rest, storing each reply the moment it arrives."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.core.plugins import CHAT_BACKENDS
from bench.llm.cache import LLMCache, content_key

Message = tuple[str, str]  # (role, content)


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    max_tokens: int = 64
    temperature: float = 0.0  # greedy: explanations are a measurement, not a sample
    # Words the reply starts with. A local model continues them (small models follow a started answer far
    # better than an instruction); remote chat APIs get them as an instruction in the last user message.
    reply_prefix: str = ""

    def as_openai(self, prefix_as_instruction: bool = True) -> list[dict[str, str]]:
        messages = [{"role": role, "content": content} for role, content in self.messages]
        if self.reply_prefix and prefix_as_instruction:
            messages[-1]["content"] += f"\n\nStart your reply with: {self.reply_prefix}"
        return messages


@dataclass(frozen=True)
class ChatSettings:
    model: str | None = None  # backend default when None
    device: torch.device | None = None  # local only
    batch_size: int = 16  # local: prompts per generate() call
    base_url: str | None = None  # openai: any OpenAI-compatible endpoint (default: the client's)
    api_key_env: str = "OPENAI_API_KEY"  # openai: the variable holding the key; the key is never recorded
    max_concurrency: int = 8  # openai: requests in flight
    max_retries: int = 5  # openai: retries with backoff on rate limits, server errors and timeouts
    timeout_s: float = 60.0


class ChatModel(ABC):
    def __init__(self, settings: ChatSettings) -> None:
        self.settings = settings

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What the replies depend on (part of every cache key and of the record); never a secret."""

    @abstractmethod
    def answer(self, requests: list[ChatRequest], on_reply: Callable[[int, str], None], description: str) -> None:
        """Call `on_reply(i, text)` once for every request, in any order."""

    def complete(self, requests: list[ChatRequest], cache: LLMCache | None = None,
                 description: str = "LLM calls") -> list[str]:
        keys = [content_key("chat", backend=self.identity(), messages=r.messages, max_tokens=r.max_tokens,
                            temperature=r.temperature, prefix=r.reply_prefix) for r in requests]
        replies: list[str | None] = [cache.get_text(key) if cache is not None else None for key in keys]
        missing = [i for i, reply in enumerate(replies) if reply is None]

        def on_reply(j: int, text: str) -> None:
            i = missing[j]
            replies[i] = text
            if cache is not None:
                cache.put_text(keys[i], "chat", str(self.identity().get("model")), text)

        if missing:
            self.answer([requests[i] for i in missing], on_reply, description)
        return [reply if reply is not None else "" for reply in replies]




def load_chat(name: str, settings: ChatSettings) -> ChatModel:
    return CHAT_BACKENDS.get(name)(settings)
