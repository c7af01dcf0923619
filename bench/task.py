"""The task interface: data, the model head it needs, evaluation with declared target/retain metrics."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from torch import nn

from bench.data import ConceptData, Examples
from bench.errors import BenchError
from bench.models import HeadSpec
from bench.options import NoOptions
from bench.registry import Registry

TASKS: Registry[type[Task]] = Registry("task", group="bench.tasks", builtin_package="tasks")


@dataclass(frozen=True)
class MetricSpec:
    """A metric a task reports.

    role: "target" (the concept that should be gone; higher = more of it present), "retain" (collateral
    damage is its relative drop), or "info" (recorded only).
    """

    name: str
    role: Literal["target", "retain", "info"]
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if self.role == "target" and not self.higher_is_better:
            raise BenchError(f"target metric {self.name!r} must be oriented so that higher = more concept present")


@dataclass(frozen=True)
class TaskSettings:
    concept: str | None
    data: str | None
    seed: int
    max_eval_examples: int | None
    options: Any  # the task's own Options dataclass instance


@dataclass(frozen=True)
class EvalSettings:
    batch_size: int
    autocast_dtype: Any  # torch.dtype or None


class Task(ABC):
    """A concept to remove and the measurements around it. A task never prunes and never trains."""

    version: ClassVar[int] = 1
    description: ClassVar[str] = ""
    head_kind: ClassVar[str]
    default_model: ClassVar[str]
    Options: ClassVar[type] = NoOptions
    # Per-profile refinements of RunConfig defaults (e.g. the fine-tuning this task's data needs); a
    # "task_options" entry refines the task's own option defaults.
    profile_overrides: ClassVar[dict[str, dict[str, Any]]] = {}
    # Evaluate the loaded model before the preparation fine-tuning too (cached with the prepared model), when
    # the preparation is what gives the model the capability to remove.
    evaluate_before_preparation: ClassVar[bool] = False

    def __init__(self, settings: TaskSettings) -> None:
        self.settings = settings

    @property
    @abstractmethod
    def concept(self) -> str:
        """The resolved concept this run removes."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Hash of the data this task reads (part of the run id)."""

    @abstractmethod
    def head(self) -> HeadSpec: ...

    @abstractmethod
    def metrics(self) -> list[MetricSpec]:
        """Every metric `evaluate` returns; the first target is the primary one."""

    def preparation_data(self, tokenizer) -> Examples | None:
        """What the harness fine-tunes on before the base evaluation (None: use the model as loaded)."""
        return None

    @abstractmethod
    def relearn_data(self, tokenizer) -> Examples:
        """What the relearning attacker trains on; disjoint from the evaluation split."""

    @abstractmethod
    def concept_data(self, tokenizer) -> ConceptData: ...

    @abstractmethod
    def evaluate(self, model: nn.Module, tokenizer, settings: EvalSettings) -> dict[str, float]: ...

    def describe_data(self) -> dict[str, Any]:
        """Sizes and sources for the record."""
        return {}
