"""A content-addressed store of LLM replies and embeddings, so a rerun or a resumed run costs nothing.

An entry's key is the SHA-256 of what produced it (kind, backend, model, the request itself); the value
is the reply text or the embedding vector. Every lookup is remembered, so a run can record which entries
its result depends on. Entries are written as soon as they arrive: a crash loses only calls in flight.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.paths import bench_home


def content_key(kind: str, **parts: Any) -> str:
    payload = json.dumps({"kind": kind, **parts}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class LLMCache:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else bench_home() / "llm_cache.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection shared by the event loop's callbacks and worker threads, serialised by the lock.
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, kind TEXT, model TEXT, "
                         "text TEXT, vector BLOB, created TEXT DEFAULT CURRENT_TIMESTAMP)")
        self._db.commit()
        self.used: set[str] = set()
        self.hits = 0
        self.misses = 0

    # -- text replies -------------------------------------------------------------------------
    def get_text(self, key: str) -> str | None:
        return self._get(key, "text")

    def put_text(self, key: str, kind: str, model: str, text: str) -> None:
        self._put(key, kind, model, text=text)

    # -- vectors ------------------------------------------------------------------------------
    def get_vector(self, key: str) -> np.ndarray | None:
        blob = self._get(key, "vector")
        return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()

    def put_vector(self, key: str, kind: str, model: str, vector: np.ndarray) -> None:
        self._put(key, kind, model, vector=np.asarray(vector, dtype=np.float32).tobytes())

    # -- bookkeeping --------------------------------------------------------------------------
    def _get(self, key: str, column: str) -> Any:
        with self._lock:
            row = self._db.execute(f"SELECT {column} FROM entries WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] is None:
            self.misses += 1
            return None
        self.hits += 1
        self.used.add(key)
        return row[0]

    def _put(self, key: str, kind: str, model: str, text: str | None = None, vector: bytes | None = None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO entries (key, kind, model, text, vector) VALUES (?, ?, ?, ?, ?)",
                             (key, kind, model, text, vector))
            self._db.commit()
        self.used.add(key)

    def usage(self) -> dict[str, Any]:
        """What a record keeps: how many entries the run used, how many it had to compute, and a digest of
        their keys (`used_keys()` is the list itself, which a run writes next to its record)."""
        digest = hashlib.sha256("\n".join(sorted(self.used)).encode()).hexdigest()[:16]
        return {"path": str(self.path), "entries_used": len(self.used), "hits": self.hits, "computed": self.misses,
                "keys_digest": digest}

    def used_keys(self) -> str:
        return "".join(key + "\n" for key in sorted(self.used))

    def close(self) -> None:
        with self._lock:
            self._db.close()
