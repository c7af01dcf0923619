"""An OpenAI-compatible HTTP server on loopback for tests: /v1/chat/completions and /v1/embeddings.

Replies come from a function of the request body, so a test decides what the "model" says. `fail_next`
queues raw responses (status, body) served before normal replies: a 429, a 500, a malformed body.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def hash_vector(text: str, dim: int = 8) -> list[float]:
    """A deterministic embedding: the first bytes of the text's SHA-256, centred."""
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255.0 - 0.5 for b in digest[:dim]]


class FakeOpenAI:
    def __init__(self, reply: Callable[[list[dict[str, str]]], str], delay_s: float = 0.0) -> None:
        self.reply = reply
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_next: list[tuple[int, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests.append({"path": self.path, **body})
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    scripted = fake.fail_next.pop(0) if fake.fail_next else None
                try:
                    time.sleep(fake.delay_s)
                    if scripted is not None:
                        status, text = scripted
                        self._send(status, text, {"retry-after": "0"} if status == 429 else {})
                    elif self.path.endswith("/chat/completions"):
                        content = fake.reply(body["messages"])
                        self._send(200, json.dumps({
                            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": content}}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}))
                    elif self.path.endswith("/embeddings"):
                        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                        self._send(200, json.dumps({
                            "object": "list", "model": body["model"],
                            "data": [{"object": "embedding", "index": i, "embedding": hash_vector(text)}
                                     for i, text in enumerate(inputs)],
                            "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
                    else:
                        self._send(404, json.dumps({"error": {"message": "no such route"}}))
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _send(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
