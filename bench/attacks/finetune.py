"""Fine-tuning attacks: every weight trained with AdamW at a constant rate after a short warmup, for a budget
of optimizer steps (the data cycles, so that a task with little data is not made to look resistant by being
hardly attacked). They differ only in what they train on. A persistent mask stays persistent: the harness holds
the pruned units at zero through every step (bench.neurons.masks.apply_mask).

- `finetune`: the task's relearning split, the attack of Lo, Cohen & Barez (2024, "Large language models
  relearn removed concepts": retraining the pruned model on the task) and of the relearning literature since
  (Łucki et al. 2024; Che et al. 2025).
- `retain-only`: the task's retain set, which never has the concept as a target (NER: the concept's words are
  left out of the loss; Task.retain_data), after Siddiqui et al. (2025), where fine-tuning on the retained
  classes alone brings forgotten classes back: what an attacker who holds no example of the concept can do.
- `unrelated`: general text that holds none of the concept (Task.unrelated_data: Wikipedia paragraphs the
  toxicity scorer rates clean; on CBT the same text with the category's words never a target; on NER the
  news sentences that name no entity of the concept), after Łucki et al. (2024) and Doshi & Stickland (2024).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from bench.api.attack import Attack, AttackContext, AttackResult
from bench.api.data import Examples
from bench.core.errors import BenchError
from bench.core.plugins import ATTACKS
from bench.models.training import TrainSettings, train


def fine_tune(model: nn.Module, data: Examples, ctx: AttackContext, description: str) -> AttackResult:
    """Train every weight of `model` on `data` for the context's step budget, evaluating at its checkpoints."""
    budget = ctx.budget
    settings = TrainSettings(lr=budget.lr, weight_decay=ctx.weight_decay, batch_size=ctx.batch_size, epochs=None,
                             warmup_ratio=0.0, seed=ctx.seed, max_steps=budget.steps, schedule="constant",
                             warmup_steps=budget.warmup_steps)
    trained = train(model, data, settings, autocast_dtype=ctx.autocast_dtype,
                    checkpoints=[c for c in budget.checkpoints if c > 0], on_checkpoint=ctx.on_checkpoint,
                    description=description, checkpointer=ctx.checkpointer)
    return AttackResult(trained.steps, trained.steps_per_epoch, info={"examples": len(data)})


@ATTACKS.register("finetune")
class Finetune(Attack):
    """Full fine-tuning on the task's relearning split (AdamW, constant rate after a warmup, a step budget)."""

    version = 1

    def attack(self, model: nn.Module, ctx: AttackContext) -> AttackResult:
        return fine_tune(model, ctx.relearn_data(), ctx, "relearn")


@ATTACKS.register("retain-only")
class RetainOnly(Attack):
    """Full fine-tuning on the task's retain set, where the concept is never a target (Siddiqui et al. 2025)."""

    version = 1

    def attack(self, model: nn.Module, ctx: AttackContext) -> AttackResult:
        return fine_tune(model, ctx.retain_data(), ctx, "relearn (retain only)")


@dataclass(frozen=True)
class UnrelatedOptions:
    texts: int = 256  # general texts (paragraphs, sentences) to train on; the step budget cycles them

    def __post_init__(self) -> None:
        if self.texts < 1:
            raise BenchError(f"texts must be at least 1, got {self.texts}")


@ATTACKS.register("unrelated")
class Unrelated(Attack):
    """Full fine-tuning on general text that holds none of the concept (Task.unrelated_data): Łucki et al.
    (2024) undo RMU with 10 unrelated examples, and Doshi & Stickland (2024) recover most of it by training on
    unrelated data."""

    needs = ("unrelated_data",)
    version = 1
    Options = UnrelatedOptions

    def attack(self, model: nn.Module, ctx: AttackContext) -> AttackResult:
        data, info = ctx.unrelated_data()
        result = fine_tune(model, data, ctx, "relearn (unrelated text)")
        result.info.update(info)
        return result
