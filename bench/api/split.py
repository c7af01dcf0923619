"""The validation/test split of a task's evaluation examples: what a configuration is chosen on, and what the
board reports it on, are disjoint.

A method's budget (its learning rate and steps, its β, the share of units it prunes) is chosen as the best
forgetting within the collateral bound; choosing it on the examples that are then reported would report the
luckiest configuration's noise as its effect. So every sample's rows are split once, by the analysis's own seed
and the sample's name, never by a run's seed: `VALIDATION_SHARE` of them choose, the rest report. The split
depends only on the sample's name and its number of rows, so every stage, method and seed of a task splits the
same examples the same way (their comparisons stay paired), and changing the values of the test rows cannot
change which rows are validation rows, nor anything chosen on them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Literal

import numpy as np

from bench.api.evaluation import ANALYSIS_SEED, Evaluation

# A third chooses, two thirds report: the reported figures keep most of the task's resolution (their interval is
# √1.5 = 1.22 times as wide as on every example), and the choice still sees a few hundred examples per sample
# (NER: about 580 sentences, 240 GPE entities; toxicity: 167 prompts).
VALIDATION_SHARE = 1 / 3
Part = Literal["validation", "test", "all"]


def validation_rows(sample: str, n: int) -> np.ndarray:
    """A boolean mask over a sample's `n` rows: True for the validation rows (round(n / 3) of them)."""
    salt = int.from_bytes(hashlib.sha256(sample.encode()).digest()[:4], "big")
    order = np.random.default_rng([ANALYSIS_SEED, salt, n]).permutation(n)
    mask = np.zeros(n, dtype=bool)
    mask[order[: round(n * VALIDATION_SHARE)]] = True
    return mask


def split_rows(sizes: Mapping[str, int], part: Part) -> dict[str, np.ndarray]:
    """Each sample's rows of `part` as a boolean mask."""
    if part == "all":
        return {name: np.ones(n, dtype=bool) for name, n in sizes.items()}
    masks = {name: validation_rows(name, n) for name, n in sizes.items()}
    return masks if part == "validation" else {name: ~mask for name, mask in masks.items()}


def part_of(evaluation: Evaluation, part: Part) -> Evaluation:
    """The evaluation restricted to its validation or test rows (`all`: itself)."""
    return evaluation if part == "all" else evaluation.rows(split_rows(evaluation.sizes(), part))
