"""What a board is made of: an *entry* (every record of one method with its options under one configuration that
differs only in the seed) with the figures, verdicts and rank the board gives it. Its own module so that the
columns that compute figures (bench.results.columns), the ranking (bench.results.ranking) and the board
(bench.results.leaderboard) all read one definition and none of them imports another in a circle."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench.api.controls import BUDGET_FREE_CONTROLS, CONTROL_METHODS
from bench.api.record import Record
from bench.results.inference import CensoredMedian, Estimate
from bench.results.paired import SeedValue


@dataclass(frozen=True)
class Anamnesis:
    """The anamnesis index of an entry: the censored median steps it needs to regain the level against the
    never-learned control's censored median steps to reach it."""

    unlearned: CensoredMedian
    never: CensoredMedian

    @property
    def value(self) -> float | None:
        """The index, or its bound where one side is censored (for sorting; `text` says which)."""
        a, b = self.unlearned.value, self.never.value
        if a is None or b is None or (np.isinf(a) and np.isinf(b)) or b == 0:
            return None
        if np.isinf(a):
            return self.unlearned.limit / b
        return a / self.never.limit if np.isinf(b) else a / b

    def text(self) -> str:
        a, b = self.unlearned.value, self.never.value
        if a is None or b is None or (np.isinf(a) and np.isinf(b)) or b == 0:
            return "–"
        steps = f"{_steps(a, self.unlearned.limit)} vs {_steps(b, self.never.limit)} steps"
        known = self.unlearned.passed + self.unlearned.censored
        defined = "" if self.unlearned.undefined == 0 else f"; {known}/{known + self.unlearned.undefined} seeds defined"
        if np.isinf(a):
            return f"> {self.unlearned.limit / b:.2g} ({steps}{defined})"
        if np.isinf(b):
            return f"< {a / self.never.limit:.2g} ({steps}{defined})"
        return f"{a / b:.2g} ({steps}{defined})"


def _steps(value: float, limit: int) -> str:
    return f"> {limit}" if np.isinf(value) else f"{value:g}"



@dataclass
class Entry:
    task: str
    concept: str
    method: str  # the method's name
    label: str  # name with its options, what the tables show
    model: str
    budget: str
    k: int | None  # units pruned (the mask's k, the fewest over seeds; 0 for the base control; None: no mask)
    k_requested: int | None  # units the budget allowed; more than k when the method ranked fewer units than that
    total_units: int | None
    key: str  # pairing key: the configuration without seed, method and options
    records: list[Record]  # one per seed, in seed order
    setting_key: str = ""  # pairing key without the budget: the method's budgets share it
    values: dict[str, list[float | None]] = field(default_factory=dict)  # figure -> per-seed point value
    stats: dict[str, Estimate] = field(default_factory=dict)  # figure -> estimate over seeds
    rt90: CensoredMedian | None = None
    anamnesis: Anamnesis | None = None
    resolved: int = 0  # seeds whose forgetting is resolved above 0 from the evaluation noise
    curve: list[tuple[int, Estimate]] = field(default_factory=list)  # step -> r(t) vs none over seeds
    target_curve: list[tuple[int, Estimate]] = field(default_factory=list)  # step -> target metric over seeds
    removed_draws: dict[int, SeedValue] = field(default_factory=dict)  # seed -> `removed` on the draws
    control_test: Estimate | None = None  # forgetting against the control, paired at each seed
    control: str = "none"  # which control control_test is against: random, retain-tuning or none
    control_p: float | None = None  # its Holm-adjusted p-value
    leader_p: float | None = None  # Holm-adjusted p of the score difference from its rank group's leader
    rank: int | None = None  # rank group
    status: str = ""  # "ranked", or why not

    @property
    def is_control(self) -> bool:
        return self.method in CONTROL_METHODS

    @property
    def budget_size(self) -> float:
        """Where the budget sits on its family's axis, for ordering: units allowed, or optimizer steps × rate."""
        if self.k_requested is not None:
            return float(self.k_requested)
        budget = self.records[0].unlearning.budget
        return float(budget.get("steps") or 0) * float(budget.get("lr") or 0)

    @property
    def short_of_budget(self) -> bool:
        """The method ranked fewer units than its budget, so it pruned fewer (never filled in silently)."""
        return self.k is not None and self.k_requested is not None and self.k < self.k_requested

    @property
    def seeds(self) -> list[int]:
        return [r.config["seed"] for r in self.records]

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.records]

    @property
    def entry_id(self) -> str:
        """Stable across runs of the same configuration: what `bench check` matches baselines on."""
        budget = "any budget" if self.method in BUDGET_FREE_CONTROLS else self.budget
        return f"{self.task}/{self.concept} · {self.label} · {self.model} · {budget}"
