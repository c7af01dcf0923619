"""Files written whole or not at all: every writer goes through a temporary file beside its target, synced to
disk, then renamed over it, so a reader (another run, a sweep's driver, a page build) never sees half a file,
and a kill or a full disk leaves the previous version intact and no temporary file behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO]:
    """A handle on a temporary file in `path`'s folder; on a clean exit it replaces `path`, on an error it goes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())  # on disk before it replaces the previous version
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_file(path, "w") as handle:
        handle.write(text)


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def copy_atomic(source: Path, target: Path) -> None:
    with open(source, "rb") as original, atomic_file(target, "wb") as handle:
        shutil.copyfileobj(original, handle)
