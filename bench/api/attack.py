"""The attack interface: what an attacker does to the unlearned model to bring the concept back. An attack
gets the unlearned model (its mask, if any, already held by the harness) and a context with the task's data,
the run's step budget and a callback that evaluates the model; it changes the model in place and calls
`ctx.on_checkpoint(step, epoch)` at the budget's checkpoints (the harness evaluates there; step 0 is the
unlearned model, evaluated before the attack starts). It never evaluates by itself. An attack that does not
train counts its checkpoints in its own unit (`AttackResult.unit`: the shots shown, or 1 for a one-off change
such as quantization), and one that changes no weight may put examples in the prompt the task evaluates with
(`ctx.show_in_prompt`).

An attack names what it reproduces (its docstring) and declares its budget as typed options, with a version
bumped whenever its numbers can move: the run id hashes its name, version and options."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from bench.api.data import Examples
from bench.core.errors import BenchError
from bench.core.options import NoOptions
from bench.models.training import Checkpointer


@dataclass(frozen=True)
class StepBudget:
    """A training attack's budget, the run's `relearn_*` settings: optimizer steps (the data cycles), the rate
    (constant after a linear warmup), and the steps at which the model is evaluated (0 and the last included)."""

    steps: int
    lr: float
    warmup_steps: int
    checkpoints: tuple[int, ...]


@dataclass(frozen=True)
class AttackContext:
    budget: StepBudget
    seed: int
    batch_size: int
    weight_decay: float
    device: torch.device
    tokenizer: Any = field(default=None, compare=False, repr=False)
    autocast_dtype: torch.dtype | None = None
    on_checkpoint: Callable[[int, float], None] = field(default=lambda step, epoch: None, compare=False, repr=False)
    # Saves and restores a training attack's state, so an interrupted run resumes where it stopped.
    checkpointer: Checkpointer | None = field(default=None, compare=False, repr=False)
    # The task's relearning split (disjoint from evaluation and concept data), built when first asked for.
    relearn_source: Callable[[], Examples] | None = field(default=None, compare=False, repr=False)
    # The task's retain set (every target but the concept's; Task.retain_data), built when first asked for.
    retain_source: Callable[[], Examples] | None = field(default=None, compare=False, repr=False)
    # General text that holds none of the concept (Task.unrelated_data), built when first asked for.
    unrelated_source: Callable[[], tuple[Examples, dict[str, Any]]] | None = field(default=None, compare=False,
                                                                                 repr=False)
    # k examples of the concept as the task shows them in a prompt (Task.demonstrations; a task without a
    # prompt refuses), and the callback that makes the harness evaluate with them in front of the target's prompts.
    demonstration_source: Callable[[int], list[str]] | None = field(default=None, compare=False, repr=False)
    show_in_prompt: Callable[[tuple[str, ...]], None] = field(default=lambda texts: None, compare=False, repr=False)

    def relearn_data(self) -> Examples:
        return self._data("relearning", self.relearn_source)

    def retain_data(self) -> Examples:
        return self._data("retain", self.retain_source)

    def unrelated_data(self) -> tuple[Examples, dict[str, Any]]:
        """The examples and the record's account of them (source, how they were filtered for the concept)."""
        if self.unrelated_source is None:
            raise BenchError("this run provides no unrelated data to the attack")
        data, info = self.unrelated_source()
        if len(data) == 0:
            raise BenchError("the task's unrelated data is empty: the attack has nothing to train on")
        return data, info

    def demonstrations(self, k: int) -> list[str]:
        if self.demonstration_source is None:
            raise BenchError("this run provides no demonstrations to the attack")
        return self.demonstration_source(k)

    @staticmethod
    def _data(part: str, source: Callable[[], Examples] | None) -> Examples:
        if source is None:
            raise BenchError(f"this run provides no {part} data to the attack")
        data = source()
        if len(data) == 0:
            raise BenchError(f"the task's {part} data is empty: the attack has nothing to train on")
        return data


@dataclass
class AttackResult:
    steps: int  # optimizer steps taken (0 for an attack that does not train)
    steps_per_epoch: float | None = None  # of its training data, when it trains
    info: dict[str, Any] = field(default_factory=dict)  # what the record should carry (the data, what it kept)
    unit: str = "steps"  # what its checkpoints count: optimizer "steps", "shots" shown, "applications"


class Attack(ABC):
    """Subclass, set `version`, a docstring citing what it reproduces and, when it has any, an `Options`
    dataclass; register with `@ATTACKS.register("name")` (bench.core.plugins) or a `bench.attacks` entry point."""

    version: ClassVar[int] = 1
    Options: ClassVar[type] = NoOptions
    # Whether it trains for the run's step budget (the `relearn_*` settings): one that does not (quantization,
    # a prompt) has them left out of its run id, since they cannot move its numbers.
    trains: ClassVar[bool] = True
    # The Task methods it needs beyond the defaults (e.g. "demonstrations", "unrelated_data"): a task that does not
    # define one is refused before anything loads.
    needs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def attack(self, model: nn.Module, ctx: AttackContext) -> AttackResult:
        """Change `model` in place to bring the concept back, calling `ctx.on_checkpoint` at the budget's steps."""


def refusal(task: str, task_cls: type, attack_cls: type[Attack]) -> str | None:
    """Why the task cannot meet the attack (a Task method it needs that the task does not define, with the task's
    own reason where it gives one), or None."""
    from bench.api.task import Task

    for need in attack_cls.needs:
        if getattr(task_cls, need) is getattr(Task, need):
            why = f": {task_cls.no_prompt}" if need == "demonstrations" else ""
            return f"needs Task.{need}, which task {task!r} does not define{why}"
    return None
