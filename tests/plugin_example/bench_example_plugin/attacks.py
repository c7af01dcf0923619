"""The example plug-in's attack (docs/extending.md, "An attack"): fine-tuning on a share of the relearning split."""

from dataclasses import dataclass

from bench.api.attack import Attack, AttackContext, AttackResult
from bench.api.data import Examples
from bench.models.training import TrainSettings, train


@dataclass(frozen=True)
class HalfDataOptions:
    share: float = 0.5  # of the relearning split


class HalfData(Attack):
    """Fine-tuning on a share of the relearning split: how little data brings the concept back."""

    version = 1
    Options = HalfDataOptions

    def attack(self, model, ctx: AttackContext) -> AttackResult:
        data = ctx.relearn_data()
        data = Examples(data.examples[: int(len(data) * self.options.share)], data.collate)
        budget = ctx.budget  # the run's relearn_* settings: steps, rate, warmup, checkpoints
        settings = TrainSettings(lr=budget.lr, weight_decay=ctx.weight_decay, batch_size=ctx.batch_size,
                                 epochs=None, warmup_ratio=0.0, seed=ctx.seed, max_steps=budget.steps,
                                 schedule="constant", warmup_steps=budget.warmup_steps)
        trained = train(model, data, settings, autocast_dtype=ctx.autocast_dtype,
                        checkpoints=[c for c in budget.checkpoints if c > 0], on_checkpoint=ctx.on_checkpoint,
                        description="relearn (half data)", checkpointer=ctx.checkpointer)
        return AttackResult(trained.steps, trained.steps_per_epoch, info={"examples": len(data)})
