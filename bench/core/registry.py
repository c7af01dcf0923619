"""One registry mechanism for every plug-in kind (methods, tasks, and later scorers, explainers, embedders).

Built-ins register with a decorator at their definition site; the registry imports the modules of its
built-in package to find them. Third-party packages expose the object itself through an entry point
group (for example `bench.methods`), so a method author never edits this repository.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bench.core.errors import BenchError, UnknownNameError

T = TypeVar("T")

BUILT_IN = "built-in"


class DuplicateNameError(BenchError):
    """A name that is already taken by a different object."""


class PluginLoadError(BenchError):
    """An installed entry point that could not be imported."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    origin: str  # "built-in", or "<distribution> <version>" for entry points, or the defining module

    @property
    def description(self) -> str:
        text = getattr(self.obj, "description", None) or (self.obj.__doc__ or "")
        return text.strip().splitlines()[0] if text.strip() else ""


class Registry(Generic[T]):
    """Name → object, filled by decorator (built-ins) and entry points (third parties)."""

    def __init__(self, kind: str, group: str, builtin_package: str) -> None:
        self.kind = kind
        self.group = group
        self.builtin_package = builtin_package
        self._entries: dict[str, Entry[T]] = {}
        self._decorated: dict[str, Entry[T]] = {}  # registered in code; survives refresh()
        self._failed: dict[str, str] = {}
        self._loaded = False

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: `@METHODS.register("random")` on the class that implements it."""

        def decorate(obj: T) -> T:
            module = getattr(obj, "__module__", "") or ""
            is_builtin = module == self.builtin_package or module.startswith(self.builtin_package + ".")
            self.add(name, obj, BUILT_IN if is_builtin else module)
            self._decorated[name] = self._entries[name]
            return obj

        return decorate

    def add(self, name: str, obj: T, origin: str) -> None:
        existing = self._entries.get(name)
        if existing is not None and existing.obj is not obj:
            raise DuplicateNameError(
                f"{self.kind} name {name!r} is already taken by {_qualname(existing.obj)} "
                f"({existing.origin}); cannot register {_qualname(obj)} ({origin})"
            )
        if existing is not None and origin == BUILT_IN:
            return
        # An entry point naming an object its module already registered: record where it came from.
        self._entries[name] = Entry(name, obj, origin)

    # -- discovery ----------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.builtin_package)
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            importlib.import_module(info.name)
        self._load_entry_points()

    def refresh(self) -> None:
        """Scan the entry points again (after installing or removing a plug-in in a running process)."""
        self._ensure_loaded()
        self._entries = dict(self._decorated)
        self._failed = {}
        self._load_entry_points()

    def _load_entry_points(self) -> None:
        for ep in md.entry_points(group=self.group):
            dist = ep.dist
            origin = f"{dist.name} {dist.version}" if dist is not None else ep.value
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plug-in must not break `bench list` for everyone else
                self._failed[ep.name] = f"{origin}: {type(exc).__name__}: {exc}"
                continue
            self.add(ep.name, obj, origin)

    def get(self, name: str) -> T:
        self._ensure_loaded()
        if name in self._entries:
            return self._entries[name].obj
        if name in self._failed:
            raise PluginLoadError(f"{self.kind} {name!r} failed to load ({self._failed[name]})")
        raise UnknownNameError(self.kind, name, self._entries, hint=f"`bench list` shows every {self.kind}")

    def entry(self, name: str) -> Entry[T]:
        self.get(name)
        return self._entries[name]

    def entries(self) -> list[Entry[T]]:
        self._ensure_loaded()
        return [self._entries[name] for name in sorted(self._entries)]

    def failures(self) -> dict[str, str]:
        self._ensure_loaded()
        return dict(self._failed)

    def names(self) -> list[str]:
        return [entry.name for entry in self.entries()]


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
