"""The tests and intervals a board's verdicts come from: one estimate per figure that says what its interval
covers, exact paired tests for accuracies on the same questions, Holm's step-down correction, censored medians,
and the smallest difference a board can detect.

An `Estimate` is a mean over *replicates* (the seeds whose runs actually differ; identical runs count once)
with a two-sided (1 − α) interval and the p-value of "the figure is 0". Its standard error combines two parts:
  seeds     the replicates' spread (Student's t on k − 1 degrees of freedom);
  examples  the evaluation's sampling error, from a bootstrap over the examples that draws the same example
            indices for every run and seed it combines (bench.results.paired), so what compared runs share is
            counted once. It is added where every seed is scored on the same examples (the seeds' spread then
            holds none of it), and is the whole error of an entry that is one replicate; where a seed draws its
            own evaluation sample (toxicity's completions), the seeds' spread already holds it and it is not
            added again.
The two parts are added in quadrature with Welch–Satterthwaite degrees of freedom (docs/design.md says why).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05  # every verdict's error rate, before the correction for multiplicity
POWER = 0.80  # the power at which a board's minimum detectable difference is stated
HOLM = "Holm"


@dataclass(frozen=True)
class Estimate:
    mean: float | None
    low: float | None = None  # the (1 − α) interval; None where nothing bounds it
    high: float | None = None
    p: float | None = None  # two-sided p-value of "the figure is 0"; None where untestable
    se: float | None = None
    df: float | None = None  # degrees of freedom of the t (math.inf: normal)
    seeds: int = 0  # seeds with a defined value
    replicates: int = 0  # distinct runs among them (seeds that changed nothing count once)
    seed_se: float | None = None
    eval_se: float | None = None
    sd: float | None = None  # SD over the replicates
    how: str = ""  # what the interval covers: "seeds", "seeds and examples", "examples", "exact (…)"
    note: str | None = None  # "floor", "no change", ... : what the cell must say besides its numbers

    @property
    def n(self) -> int:
        return self.replicates

    @property
    def ci95(self) -> float | None:
        """The interval's half-width (the larger side of an asymmetric one)."""
        if self.mean is None or self.low is None or self.high is None:
            return None
        return max(self.high - self.mean, self.mean - self.low)

    @property
    def seed_ci95(self) -> float | None:
        return None if self.seed_se is None else _t(self.replicates - 1) * self.seed_se

    @property
    def eval_ci95(self) -> float | None:
        return None if self.eval_se is None else float(stats.norm.ppf(1 - ALPHA / 2)) * self.eval_se

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p is not None and self.p < alpha

    def format(self, digits: int = 3) -> str:
        if self.mean is None:
            return "–"
        text = f"{self.mean:.{digits}f}"
        if self.note == "no change":
            return f"{0:.{digits}f} (no change; ≤ {self.high:.{digits}f})" if self.high is not None else f"{text} (no change)"
        if self.note == "floor":
            return f"{text} (floor)"
        if self.note in ("nothing removed", "by definition"):
            return f"{text} ({self.note})"
        if self.low is None or self.high is None:
            return text
        if self.how.startswith("exact"):
            return f"{text} [{self.low:.{digits}f}, {self.high:.{digits}f}]"
        return f"{text} ± {self.ci95:.{digits}f}"

    def __str__(self) -> str:
        return self.format()


UNDEFINED = Estimate(None)


def _t(df: float) -> float:
    return float(stats.norm.ppf(1 - ALPHA / 2)) if df is None or math.isinf(df) else float(stats.t.ppf(1 - ALPHA / 2, df))


def t_quantile(n: int) -> float:
    """The two-sided 95% quantile of Student's t with n - 1 degrees of freedom (12.71 for 2 seeds, 4.30 for 3)."""
    return float(stats.t.ppf(0.975, n - 1))


def from_se(mean: float, se: float, df: float, **fields) -> Estimate:
    """The interval mean ± t·se and the two-sided p of mean = 0 (a zero se gives a point and no test)."""
    if se <= 0:
        return Estimate(mean, mean, mean, None, 0.0, df, **fields)
    half = _t(df) * se
    p = float(2 * (stats.norm.sf(abs(mean) / se) if math.isinf(df) else stats.t.sf(abs(mean) / se, df)))
    return Estimate(mean, mean - half, mean + half, p, se, df, **fields)


def combine(values: Sequence[float], eval_draws: np.ndarray | None, *, crossed: bool, seeds: int | None = None,
            note: str | None = None) -> Estimate:
    """The estimate of a figure from its replicates' values and, where measured, the bootstrap draws of their
    mean over the evaluation examples (`eval_draws`, the same example indices for every replicate).

    crossed: every replicate is scored on the same examples (NER sentences, CBT questions, perplexity windows),
    so the evaluation error is common to them and is added to the seeds' spread; otherwise each replicate drew
    its own sample and the spread already holds it. One replicate: the evaluation error is all there is."""
    k = len(values)
    if k == 0:
        return UNDEFINED
    seeds = k if seeds is None else seeds
    mean = float(np.mean(values))
    eval_se = None
    if eval_draws is not None:
        draws = np.asarray(eval_draws, dtype=np.float64)
        draws = draws[np.isfinite(draws)]
        if len(draws) >= 0.9 * len(eval_draws) and len(draws) > 1:
            eval_se = float(np.std(draws, ddof=1))
    common = dict(seeds=seeds, replicates=k, note=note)
    if k == 1:
        if eval_se is None:
            return Estimate(mean, how="one replicate, no evaluation error measured", **common)
        return from_se(mean, eval_se, math.inf, eval_se=eval_se, how="examples", **common)
    sd = float(np.std(values, ddof=1))
    seed_se = sd / math.sqrt(k)
    if crossed and eval_se is not None:
        se = math.hypot(seed_se, eval_se)
        # Welch–Satterthwaite: the seeds' part has k − 1 degrees of freedom, the bootstrap's is taken as exact.
        df = math.inf if seed_se == 0 else (k - 1) * se ** 4 / seed_se ** 4
        return from_se(mean, se, df, seed_se=seed_se, eval_se=eval_se, sd=sd, how="seeds and examples", **common)
    return from_se(mean, seed_se, k - 1, seed_se=seed_se, eval_se=None, sd=sd, how="seeds", **common)


# --- accuracies on the same questions -------------------------------------------------------------------------

def mcnemar(lost: int, gained: int) -> float:
    """Exact two-sided McNemar p-value: of the questions that changed, how many went right → wrong (`lost`)
    against wrong → right (`gained`), each 1/2 under no difference (a binomial test). No change: p = 1."""
    changed = lost + gained
    if changed == 0:
        return 1.0
    return float(stats.binomtest(lost, changed, 0.5).pvalue)


def _clopper_pearson(x: int, n: int, tail: float) -> tuple[float, float]:
    """One-sided (1 − tail) Clopper–Pearson bounds (lower, upper) of a binomial proportion."""
    low = 0.0 if x == 0 else float(stats.beta.ppf(tail, x, n - x + 1))
    high = 1.0 if x == n else float(stats.beta.ppf(1 - tail, x + 1, n - x))
    return low, high


def paired_accuracy_drop(lost: int, gained: int, asked: int, scale: float = 1.0, seeds: int = 1) -> Estimate:
    """The drop of an accuracy between two evaluations of the same `asked` questions, (lost − gained) / asked ×
    `scale` (1 / the first accuracy for a relative drop), with the exact McNemar test and an exact interval:
    the rates of right → wrong (p_l) and wrong → right (p_g) each get Clopper–Pearson bounds at α/4, and
    p_l − p_g lies within [low_l − high_g, high_l − low_g] with probability at least 1 − α (Bonferroni).
    Conservative where many questions changed; where none did it is the exact bound a cell of "no change" shows
    (0 of 40 questions changed still allows a drop of 0.104 of them)."""
    low_l, high_l = _clopper_pearson(lost, asked, ALPHA / 4)
    low_g, high_g = _clopper_pearson(gained, asked, ALPHA / 4)
    mean = (lost - gained) / asked * scale
    note = "no change" if lost == gained == 0 else None
    return Estimate(mean, (low_l - high_g) * scale, (high_l - low_g) * scale, mcnemar(lost, gained), None, None,
                    seeds=seeds, replicates=1, how="exact (McNemar; Clopper–Pearson)", note=note)


# --- multiplicity -------------------------------------------------------------------------------------------

def holm(pvalues: Mapping[Hashable, float]) -> dict[Hashable, float]:
    """Holm's step-down adjusted p-values: the family-wise error rate of rejecting every hypothesis whose
    adjusted p is below α is at most α, whatever their dependence."""
    order = sorted(pvalues, key=lambda key: pvalues[key])
    m, running, out = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvalues[key]))
        out[key] = running
    return out


# --- censored times -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CensoredMedian:
    """The Kaplan–Meier median of first-passage steps over seeds, where a seed that never passed within the
    attack's `limit` steps is censored there: "> limit" when fewer than half passed."""

    value: float | None  # math.inf: censored (the median seed did not pass within the attack)
    limit: int
    passed: int
    censored: int
    undefined: int = 0

    def text(self) -> str:
        if self.value is None:
            return "–"
        shown = f"> {self.limit}" if math.isinf(self.value) else f"{self.value:g}"
        known = self.passed + self.censored
        return shown if self.undefined == 0 else f"{shown} ({known}/{known + self.undefined} defined)"


def kaplan_meier_median(times: Sequence[float], passed: Sequence[bool]) -> float | None:
    """The product-limit median: the first time at which the estimated share not yet passed is at most 1/2;
    math.inf when it never is (censoring before that); None without data."""
    if not times:
        return None
    at_risk, survival = len(times), 1.0
    for time in sorted(set(times)):
        events = sum(1 for t, p in zip(times, passed, strict=True) if t == time and p)
        if events:
            survival *= 1 - events / at_risk
            if survival <= 0.5 + 1e-12:
                return float(time)
        at_risk -= sum(1 for t in times if t == time)
    return math.inf


def censored_median(values: Sequence[tuple[int | None, str]], limit: int) -> CensoredMedian:
    """(step, status) per seed, status "reached", "not reached" (censored at `limit`) or "undefined" (left out):
    their Kaplan–Meier median, or None when most seeds are undefined."""
    known = [(float(step) if status == "reached" else float(limit), status == "reached")
             for step, status in values if status != "undefined"]
    reached = sum(p for _, p in known)
    undefined = len(values) - len(known)
    value = kaplan_meier_median([t for t, _ in known], [p for _, p in known]) if len(known) >= undefined else None
    return CensoredMedian(value, limit, reached, len(known) - reached, undefined)


# --- power ----------------------------------------------------------------------------------------------------

def detectable(seed_sd: float | None, eval_se: float | None, seeds: int, *, crossed: bool,
               alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest true difference that a two-sided paired test at `alpha` detects with probability `power`,
    with `seeds` replicates: (t_{1−α/2} + t_{power}) × its standard error, where the seeds' part shrinks with
    their number and the evaluation's part (crossed: the examples every seed shares) does not."""
    if seeds < 2 and (eval_se is None or not crossed):
        return None
    seed_var = 0.0 if seed_sd is None else seed_sd ** 2 / seeds
    eval_var = eval_se ** 2 if crossed and eval_se is not None else 0.0
    se = math.sqrt(seed_var + eval_var)
    if seed_var == 0:
        df = math.inf
    else:
        df = (seeds - 1) * se ** 4 / seed_var ** 2 if eval_var else seeds - 1
    quantile = (lambda q: float(stats.norm.ppf(q))) if math.isinf(df) else (lambda q: float(stats.t.ppf(q, df)))
    return (quantile(1 - alpha / 2) + quantile(power)) * se


def seeds_to_detect(difference: float, seed_sd: float | None, eval_se: float | None, *, crossed: bool,
                    most: int = 100) -> int | None:
    """The fewest seeds (2 to `most`) at which `difference` becomes detectable; None where no number of seeds
    reaches it (the evaluation's shared error alone is too large, or more than `most` would be needed)."""
    for seeds in range(2, most + 1):
        mdd = detectable(seed_sd, eval_se, seeds, crossed=crossed)
        if mdd is not None and mdd <= difference:
            return seeds
    return None
