"""In-context relearning: the attacker changes no weight and shows k examples of the concept in the prompt.
Doshi & Stickland (2024, "Does unlearning truly unlearn? A black box evaluation of LLM unlearning methods")
find that 5-shot prompting raises an unlearned model's accuracy on the forgotten knowledge more than tenfold;
Łucki et al. (2024) likewise recover RMU's removed knowledge from the prompt alone.

The task decides how examples are shown (Task.demonstrations: data disjoint from its evaluation, in front of
the prompts that measure the target; the retain measurements see none) and refuses when it has no prompt (NER's
token classifier). The curve is in shots: the model is evaluated with 1, 2, 4, ... and `shots` examples."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from bench.api.attack import Attack, AttackContext, AttackResult
from bench.core.errors import BenchError
from bench.core.plugins import ATTACKS


@dataclass(frozen=True)
class InContextOptions:
    shots: int = 5  # the most examples shown (Doshi & Stickland: 5)
    ladder: bool = False  # also evaluate at 1, 2, 4, ... shots below `shots` (one evaluation each)

    def __post_init__(self) -> None:
        if self.shots < 1:
            raise BenchError(f"shots must be at least 1, got {self.shots}")


def shot_ladder(shots: int, ladder: bool) -> list[int]:
    """The numbers of shots evaluated: powers of two below `shots` (with `ladder`), then `shots`."""
    steps = [2 ** i for i in range(shots.bit_length()) if 2 ** i < shots] if ladder else []
    return [*steps, shots]


@ATTACKS.register("in-context")
class InContext(Attack):
    """k examples of the concept in the prompt, no weight changed (Doshi & Stickland 2024); causal-LM tasks."""

    needs = ("demonstrations",)
    version = 1
    Options = InContextOptions
    trains = False

    def attack(self, model: nn.Module, ctx: AttackContext) -> AttackResult:
        o: InContextOptions = self.options
        examples = ctx.demonstrations(o.shots)  # the task refuses here when it has no prompt
        for k in shot_ladder(o.shots, o.ladder):
            ctx.show_in_prompt(tuple(examples[:k]))
            ctx.on_checkpoint(k, 0.0)
        ctx.show_in_prompt(())
        return AttackResult(0, None, unit="shots", info={"shots": o.shots, "examples": examples})
