"""The one console and progress-bar style used for long work (training, evaluation, activation passes).

Rich allows one live display at a time, so bars opened while another is showing (an evaluation at a
relearning checkpoint) become extra rows of the same display.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

# Progress and logs go to stderr so that stdout stays clean for tables and piping.
console = Console(stderr=True)
_live: Progress | None = None


def progress_enabled() -> bool:
    return os.environ.get("BENCH_PROGRESS", "1") != "0"


@dataclass
class Bar:
    progress: Progress
    task: TaskID

    def advance(self, n: int = 1, status: str | None = None) -> None:
        if status is None:
            self.progress.advance(self.task, n)
        else:
            self.progress.update(self.task, advance=n, status=status)


@contextmanager
def bar(description: str, total: int | None) -> Iterator[Bar]:
    global _live
    if _live is not None:
        task = _live.add_task(description, total=total, status="")
        try:
            yield Bar(_live, task)
        finally:
            _live.remove_task(task)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=True,
        disable=not progress_enabled(),
    )
    with progress:
        _live = progress
        try:
            yield Bar(progress, progress.add_task(description, total=total, status=""))
        finally:
            _live = None


def progress_bar(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with bar(description, total) as b:
        for item in items:
            yield item
            b.advance()
