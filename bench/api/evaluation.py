"""An evaluation that knows its own sampling error: per-example sums, the metrics defined on them, and a
paired bootstrap over the examples.

Every metric the tasks report is a function of sums over examples: an accuracy is Σ correct / Σ asked, an
F1 is 2·Σ tp / (Σ predicted + Σ gold), a mean token NLL is Σ nll / Σ tokens, a toxic share is
Σ (score > threshold) / Σ 1. A task returns those per-example columns (`Evaluation.samples`) and how each
metric is made from their sums (`Statistic`). Resampling the examples with replacement and recomputing the
metric from the resampled sums is the bootstrap; applying the *same* resampled indices to every stage of a
run (base, unlearned, each relearning checkpoint — they score the same examples) is the paired bootstrap that
stage differences such as forgetting need. A metric whose denominator sums to 0 is undefined (None), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.core.errors import BenchError

DEFAULT_REPLICATES = 1000
CONFIDENCE = 0.95
# The bootstrap's seed is the analysis's own, never a run's: two identical runs get identical intervals and
# verdicts, and no verdict moves with a random draw of the analysis (docs/design.md, "Comparisons").
ANALYSIS_SEED = 20261205
Z = 1.959963984540054  # the normal's 97.5% quantile: a one-sided 2.5% test, the lower end of a 95% interval


@dataclass(frozen=True)
class Statistic:
    """How one metric is computed from the column sums of one sample of examples.

    kind: "ratio" = scale · Σa / Σb; "f1" = 2·Σtp / (Σpredicted + Σgold) for columns (tp, predicted, gold);
    "exp_ratio" = exp(Σa / Σb) (a perplexity from NLL and token counts).
    """

    sample: str
    kind: Literal["ratio", "f1", "exp_ratio"]
    columns: tuple[str, ...]
    scale: float = 1.0

    @classmethod
    def from_dict(cls, data: Mapping) -> Statistic:
        """From its JSON form (columns are a list there)."""
        return cls(**{**data, "columns": tuple(data["columns"])})

    def __post_init__(self) -> None:
        need = 3 if self.kind == "f1" else 2
        if len(self.columns) != need:
            raise BenchError(f"a {self.kind} statistic needs {need} columns, got {self.columns}")

    @property
    def support_column(self) -> str:
        """The column whose sum is what the metric is about: questions asked, completions scored, tokens
        predicted (a ratio's denominator), or gold entities (F1's last column)."""
        return self.columns[-1]

    def of_sums(self, sums: Mapping[str, np.ndarray]) -> np.ndarray:
        """The metric for every row of the summed columns (NaN where undefined)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "f1":
                tp, predicted, gold = (sums[c] for c in self.columns)
                den = predicted + gold
                return np.where(den > 0, 2.0 * tp / np.where(den > 0, den, 1), np.nan)
            num, den = sums[self.columns[0]], sums[self.columns[1]]
            value = np.where(den != 0, num / np.where(den != 0, den, 1), np.nan)
            return np.exp(value) if self.kind == "exp_ratio" else self.scale * value


@dataclass
class Evaluation:
    """A stage's evaluation: per-example columns by sample, and the metrics defined on them."""

    samples: dict[str, dict[str, np.ndarray]]  # sample name -> column name -> one value per example
    statistics: dict[str, Statistic]  # metric name -> how it is computed

    def __post_init__(self) -> None:
        for name, columns in self.samples.items():
            lengths = {len(v) for v in columns.values()}
            if len(lengths) > 1:
                raise BenchError(f"sample {name!r}: columns of different lengths {sorted(lengths)}")
            self.samples[name] = {c: np.asarray(v, dtype=np.float64) for c, v in columns.items()}

    def sizes(self) -> dict[str, int]:
        return {name: len(next(iter(cols.values()))) if cols else 0 for name, cols in self.samples.items()}

    def metric_sizes(self) -> dict[str, int]:
        """How many examples are resampled for each metric (the rows of its sample)."""
        sizes = self.sizes()
        return {metric: sizes[stat.sample] for metric, stat in self.statistics.items()}

    def metric_support(self) -> dict[str, int]:
        """What each metric is computed on: the sum of its support column (120 questions of category V among
        the 480 questions resampled, 89 gold geo-loc entities in 668 sentences, 40,000 tokens in 300 windows)."""
        return {metric: int(round(float(self.samples[stat.sample][stat.support_column].sum())))
                for metric, stat in self.statistics.items()}

    def scores(self) -> dict[str, float | None]:
        sums = {name: {c: np.asarray([v.sum()]) for c, v in cols.items()} for name, cols in self.samples.items()}
        return {m: _scalar(s.of_sums(sums[s.sample])[0]) for m, s in self.statistics.items()}

    def rows(self, kept: Mapping[str, np.ndarray]) -> Evaluation:
        """The same evaluation on a subset of its examples: `kept[sample]` is a boolean mask over its rows (a
        validation or test split, bench.api.split)."""
        return Evaluation({name: {c: v[kept[name]] for c, v in cols.items()} for name, cols in self.samples.items()},
                          dict(self.statistics))

    def resampled(self, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every metric under each bootstrap replicate: `weights[sample]` is (replicates × examples) counts."""
        sums = {name: {c: weights[name] @ v for c, v in cols.items()} for name, cols in self.samples.items()}
        return {m: s.of_sums(sums[s.sample]) for m, s in self.statistics.items()}


def _scalar(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def bootstrap_weights(sizes: Mapping[str, int], replicates: int = DEFAULT_REPLICATES, seed: int = 0
                      ) -> dict[str, np.ndarray]:
    """Multinomial resampling counts, one (replicates × n) matrix per sample. The same matrix applied to
    every stage of a run pairs the stages example by example."""
    rng = np.random.default_rng(seed)
    return {name: rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(np.float64) if n else
            np.zeros((replicates, 0)) for name, n in sorted(sizes.items())}


def interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The percentile interval of the defined replicates (None when fewer than 90% are defined: the figure
    is undefined too often for its interval to mean anything)."""
    defined = values[~np.isnan(values)]
    if len(defined) < 0.9 * len(values) or len(defined) == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high)


def check_paired(evaluations: Sequence[Evaluation]) -> dict[str, int]:
    """The sample sizes the stages share; stages that scored different examples cannot be paired."""
    sizes = evaluations[0].sizes()
    for e in evaluations[1:]:
        if e.sizes() != sizes:
            raise BenchError(f"stages scored different examples ({sizes} vs {e.sizes()}); they cannot be paired")
    return sizes


def pack(evaluation: Evaluation, prefix: str) -> dict[str, np.ndarray]:
    """Flat arrays for an .npz file (`prefix/sample/column`)."""
    return {f"{prefix}/{name}/{column}": values for name, cols in evaluation.samples.items()
            for column, values in cols.items()}


def unpack(arrays: Mapping[str, np.ndarray], prefix: str, statistics: dict[str, Statistic]) -> Evaluation:
    samples: dict[str, dict[str, np.ndarray]] = {}
    for key, values in arrays.items():
        head, _, rest = key.partition("/")
        if head == prefix:
            name, _, column = rest.partition("/")
            samples.setdefault(name, {})[column] = np.asarray(values)
    return Evaluation(samples, statistics)


def binary_counts(before: Evaluation, after: Evaluation, metric: str) -> tuple[int, int, int] | None:
    """(right → wrong, wrong → right, asked) between two evaluations of an accuracy on the same questions (a
    ratio of two 0/1 columns, asked alike in both); None for any other metric."""
    statistic = before.statistics.get(metric)
    if statistic is None or statistic.kind != "ratio" or statistic.scale != 1.0:
        return None
    correct_name, asked_name = statistic.columns
    first, second = before.samples[statistic.sample], after.samples[statistic.sample]
    columns = [first[correct_name], first[asked_name], second[correct_name], second[asked_name]]
    if not all(np.isin(c, (0.0, 1.0)).all() for c in columns) or not np.array_equal(columns[1], columns[3]):
        return None
    asked = columns[1] == 1
    was, now = columns[0][asked] == 1, columns[2][asked] == 1
    return int(np.sum(was & ~now)), int(np.sum(~was & now)), int(asked.sum())


def is_resolved(point: float, draws: np.ndarray, counts: tuple[int, int, int] | None) -> bool | None:
    """Whether a forgetting is resolved above 0 by a one-sided test at 2.5% (the lower end of a 95% interval):
    exact McNemar where the target is an accuracy on the same questions (`counts`), else the bootstrap's
    standard error (`draws`: the forgetting under resampling). None where neither can say."""
    if not np.isfinite(point) or point <= 0:
        return False
    if counts is not None:
        from scipy.stats import binomtest

        lost, gained, _ = counts
        return bool(binomtest(lost, lost + gained, 0.5, alternative="greater").pvalue < 0.025)
    finite = draws[np.isfinite(draws)]
    if len(finite) < max(2, 0.9 * len(draws)):
        return None
    return bool(point > Z * float(np.std(finite, ddof=1)))
