"""The `openai` chat backend: the official client against any OpenAI-compatible endpoint.

Requests run concurrently (bounded by `max_concurrency`); the client itself retries rate limits (429),
server errors (5xx), timeouts and dropped connections with exponential backoff, honouring Retry-After.
The key is read from the environment variable the settings name and appears in no record or message.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.core.errors import BenchError
from bench.core.plugins import CHAT_BACKENDS
from bench.core.progress import bar
from bench.llm.chat import ChatModel, ChatRequest, ChatSettings


def openai_client(base_url: str | None, api_key_env: str, max_retries: int, timeout_s: float, sync: bool = False):
    try:
        import openai
    except ImportError:
        raise BenchError("the openai backend needs the `openai` package: pip install openai") from None
    key = api_key(api_key_env)
    base_url = base_url or os.environ.get("OPENAI_BASE_URL")
    cls = openai.OpenAI if sync else openai.AsyncOpenAI
    return cls(api_key=key, base_url=base_url, max_retries=max_retries, timeout=timeout_s)


def api_key(api_key_env: str) -> str:
    key = os.environ.get(api_key_env)
    if not key:
        raise BenchError(f"the openai backend needs an API key in the environment variable {api_key_env} "
                         f"(for a local server without keys, set it to any value)")
    return key


def malformed(base_url: Any, what: str, response: Any) -> BenchError:
    shown = repr(response)
    shown = shown if len(shown) <= 300 else shown[:300] + "…"
    return BenchError(f"{base_url} returned a malformed {what} response: {shown}")


def _translate(exc: Exception, base_url: Any, api_key_env: str) -> BenchError | None:
    import openai

    if isinstance(exc, json.JSONDecodeError):
        return BenchError(f"{base_url} returned a malformed response (not JSON): {exc.doc[:200]!r}")
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts, after the retries
        return BenchError(f"cannot reach the OpenAI-compatible endpoint {base_url}: {exc}")
    if isinstance(exc, openai.AuthenticationError):
        return BenchError(f"{base_url} refused the API key in {api_key_env} (401)")
    if isinstance(exc, openai.RateLimitError):
        return BenchError(f"{base_url} kept answering 429 (rate limit) after every retry; lower max_concurrency "
                          f"or raise max_retries")
    if isinstance(exc, openai.APIStatusError):
        return BenchError(f"{base_url} answered HTTP {exc.status_code}: {exc.message}")
    if isinstance(exc, openai.APIResponseValidationError):
        return BenchError(f"{base_url} returned a malformed response: {exc}")
    return None


@contextmanager
def calling(base_url: Any, api_key_env: str) -> Iterator[None]:
    """Turn the client's exceptions into errors that say what to do."""
    try:
        yield
    except Exception as exc:
        translated = _translate(exc, base_url, api_key_env)
        if translated is None:
            raise
        raise translated from exc


def reply_text(response: Any, base_url: Any) -> str:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        raise malformed(base_url, "chat completion", response) from None
    if not isinstance(content, str):
        raise malformed(base_url, "chat completion", response)
    return content


@CHAT_BACKENDS.register("openai")
class OpenAIChat(ChatModel):
    """Any OpenAI-compatible chat endpoint (`base_url`, `model`, key from the environment)."""

    def __init__(self, settings: ChatSettings) -> None:
        super().__init__(settings)
        self.model = settings.model or "gpt-4o-mini"
        api_key(settings.api_key_env)  # fail now, before any expensive work, when the key is missing
        self.base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    def identity(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self.model, "base_url": self.base_url}

    def answer(self, requests: list[ChatRequest], on_reply: Callable[[int, str], None], description: str) -> None:
        asyncio.run(self._answer_all(requests, on_reply, description, self.settings))

    async def _answer_all(self, requests, on_reply, description, s: ChatSettings) -> None:
        # A fresh client per event loop: the async client's connection pool belongs to the loop it runs in.
        client = openai_client(s.base_url, s.api_key_env, s.max_retries, s.timeout_s)
        limit = asyncio.Semaphore(max(1, s.max_concurrency))
        try:
            with bar(description, len(requests)) as progress:
                async def one(i: int, request: ChatRequest) -> None:
                    async with limit:
                        with calling(client.base_url, s.api_key_env):
                            response = await client.chat.completions.create(
                                model=self.model, messages=request.as_openai(), max_tokens=request.max_tokens,
                                temperature=request.temperature)
                    on_reply(i, reply_text(response, client.base_url))
                    progress.advance()

                tasks = [asyncio.ensure_future(one(i, r)) for i, r in enumerate(requests)]
                try:
                    await asyncio.gather(*tasks)
                except BaseException:  # the first failure ends the batch; replies so far are already cached
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    raise
        finally:
            await client.close()
