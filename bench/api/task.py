"""The task interface: data, the model head it needs, evaluation with declared target/retain metrics."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from torch import nn

from bench.api.data import ConceptData, Examples
from bench.api.evaluation import Evaluation
from bench.core.errors import BenchError
from bench.core.options import NoOptions
from bench.models.loading import HeadSpec


@dataclass(frozen=True)
class MetricSpec:
    """A metric a task reports.

    role: "target" (the concept that should be gone; higher = more of it present), "retain" (collateral
    damage is its relative drop), or "info" (recorded only).
    family: for retain metrics, the scale their relative drop is on, and so which collateral bound applies:
    "accuracy" (bounded scores: accuracy, F1) or "nll" (mean token negative log-likelihood, whose relative
    rise is the collateral; a perplexity's relative rise is unbounded, exp of it).
    """

    name: str
    role: Literal["target", "retain", "info"]
    higher_is_better: bool = True
    family: Literal["accuracy", "nll"] | None = None

    def __post_init__(self) -> None:
        if self.role == "target" and not self.higher_is_better:
            raise BenchError(f"target metric {self.name!r} must be oriented so that higher = more concept present")
        if self.role == "retain" and self.family is None:
            raise BenchError(f"retain metric {self.name!r} needs a family (accuracy or nll) for its collateral bound")


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
    # A mask is applied by hooks that the weights do not carry (block-output dimensions): a generator that runs
    # no Python hooks (vLLM) would sample from the unmasked model, so it must refuse.
    mask_outside_weights: bool = False
    # Examples of the concept shown in front of every prompt that measures the target (the in-context attack);
    # the retain measurements never see them. Empty: the task's own prompts.
    demonstrations: tuple[str, ...] = ()


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
    # Which of its evaluation samples the run's seed draws (sampled completions): their examples differ between
    # seeds, so the seeds' spread already holds their evaluation error (bench.results.paired). Recorded in every
    # record, and as what a seed varies.
    seeded_samples: ClassVar[tuple[str, ...]] = ()
    # A guarantee, declared: evaluating a given model draws on no seed (no sampling, no examples chosen by
    # seed). Only then may a model that nothing seeded touched (not fine-tuned, the checkpoint's own head) be
    # evaluated once for every seed (bench.harness.protocol.base_depends_on_seed); undeclared, per seed.
    seed_free_evaluation: ClassVar[bool] = False

    def __init__(self, settings: TaskSettings) -> None:
        self.settings = settings

    @classmethod
    def base_depends_on_seed(cls, finetuned: bool, head: str | None) -> bool:
        """Whether the seed reaches the base scores of a model prepared so (`head`: the load report's "kept",
        "fresh", ...; None: unknown): through a seeded fine-tuning, a task head drawn fresh, or an evaluation
        not declared seed-free. The one rule for the base-score cache and the cost model that predicts it."""
        return finetuned or head != "kept" or not cls.seed_free_evaluation

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

    def forget_data(self, tokenizer) -> Examples:
        """What a gradient unlearning method trains away: examples whose `labels` are the concept's targets only
        (-100 elsewhere), disjoint from the evaluation and from the relearning data."""
        raise BenchError(f"task {type(self).__name__} provides no forget data, so weight-editing methods cannot "
                         "run on it (implement Task.forget_data and Task.retain_data)")

    def retain_data(self, tokenizer) -> Examples:
        """What a gradient unlearning method keeps: examples whose `labels` are every target but the concept's,
        disjoint from the evaluation and from the relearning data."""
        raise BenchError(f"task {type(self).__name__} provides no retain data, so weight-editing methods cannot "
                         "run on it (implement Task.forget_data and Task.retain_data)")

    # Why the task cannot have a never-learned control, when it cannot (its capability comes from pretraining).
    never_learned_impossible: ClassVar[str] = "the task defines no preparation without the concept"
    # What the attack's recovery means on this task, where it is not "the concept the preparation taught comes
    # back" (a capability from pretraining, say): every page of the task says it in these words.
    relearning_reads: ClassVar[str | None] = None

    @classmethod
    def has_never_learned_control(cls) -> bool:
        """Whether the task defines a preparation without the concept (and so a never-learned control)."""
        return cls.preparation_without_concept is not Task.preparation_without_concept

    def preparation_without_concept(self, tokenizer) -> Examples | None:
        """The never-learned control's preparation: the preparation with the concept taken out (None: the loaded
        model as it is, when the preparation is what gives the concept). A task that cannot have one raises."""
        raise BenchError(f"task {type(self).__name__} cannot have a never-learned control: "
                         f"{self.never_learned_impossible}")

    # Why the task has no prompt to show examples in, when it has none (a classifier that reads one sentence).
    no_prompt: ClassVar[str] = "the task does not define how examples are shown in its prompts"

    def demonstrations(self, tokenizer, k: int) -> list[str]:
        """k examples of the concept, from data disjoint from the evaluation, as `evaluate` shows them in front
        of its target prompts when `EvalSettings.demonstrations` holds them (the in-context attack)."""
        raise BenchError(f"task {type(self).__name__} cannot show examples in a prompt: {self.no_prompt}")

    def unrelated_data(self, tokenizer, texts: int) -> tuple[Examples, dict[str, Any]]:
        """Training examples from about `texts` texts of general text that hold none of the concept (the
        unrelated-data attack), disjoint from the evaluation, and the record's account of them: where they
        come from and how the concept was kept out."""
        raise BenchError(f"task {type(self).__name__} defines no unrelated data (implement Task.unrelated_data)")

    @abstractmethod
    def evaluate(self, model: nn.Module, tokenizer, settings: EvalSettings) -> Evaluation:
        """Per-example columns and how every metric of `metrics()` is made from them (bench.api.evaluation), so
        the harness can put a bootstrap interval on each. Every stage must score the same examples."""

    def describe_data(self) -> dict[str, Any]:
        """Sizes and sources for the record."""
        return {}
