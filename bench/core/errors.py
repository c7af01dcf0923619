"""Errors a user can act on: the CLI prints their message and exits non-zero, without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """A problem with the user's input or environment, explained in the message."""


class UnknownNameError(BenchError):
    """A name (method, task, model, concept, ...) that is not among the known choices."""

    def __init__(self, kind: str, name: str, choices: Iterable[str], hint: str = "") -> None:
        self.kind, self.name, self.choices = kind, name, sorted(choices)
        close = difflib.get_close_matches(name, self.choices, n=1)
        message = f"unknown {kind} {name!r}"
        if close:
            message += f" (did you mean {close[0]!r}?)"
        message += f"; choices: {', '.join(self.choices) if self.choices else '(none)'}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class DataFormatError(BenchError):
    """Malformed input data, located by file and line."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        self.path, self.line = path, line
        super().__init__(f"{path}:{line}: {problem}")
