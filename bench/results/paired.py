"""Every run of a board resampled with the same example indices, and the board's figures computed per seed on
those draws: the joint bootstrap that pairs runs example by example.

Runs at one seed share their evaluation examples (NER sentences, CBT questions, perplexity windows, and on
toxicity the base model's completions), and, where the task's examples do not depend on the seed, so do runs
at different seeds. Drawing one set of resampling counts per sample (its name and size) for the whole board,
with a fixed seed, and applying it to every stage of every record, makes any difference between two runs carry
the evaluation error once: what they share cancels. Row 0 of every draw matrix is all ones, so row 0 of every
figure is its point estimate, computed by the same code as the draws.

The seed of this bootstrap is the analysis's own (`BOOTSTRAP_SEED`), never a run's: the same records give the
same intervals and verdicts, and runs that are identical give identical verdicts.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.api.evaluation import ANALYSIS_SEED, Evaluation, Z, binary_counts, is_resolved, unpack
from bench.api.metrics import EPS
from bench.api.split import Part, part_of
from bench.api.record import Record
from bench.results.inference import UNDEFINED, Estimate, combine, paired_accuracy_drop

BOOTSTRAP_SEED = ANALYSIS_SEED
REPLICATES = 2000


@dataclass
class RunDraws:
    """One record's stage scores under the board's resampling: per stage, metric → (1 + replicates,) values."""

    record: Record
    stages: list[dict[str, np.ndarray]]
    evaluations: list[Evaluation] | None  # the per-example columns (None: the record has none)
    signatures: list[bytes]  # per stage, a digest of its per-example columns: equal digests, identical runs
    seeded: frozenset[str]  # the samples this run's seed drew (its evaluation examples differ by seed)
    _base: int = field(init=False)
    _unlearned: int = field(init=False)
    _relearn: list[tuple[int, int]] = field(init=False)

    def __post_init__(self) -> None:
        names = [s.stage for s in self.record.stages]
        self._base, self._unlearned = names.index("base"), names.index("unlearned")
        self._relearn = [(s.step, i) for i, s in enumerate(self.record.stages) if s.stage == "relearn"]

    @property
    def target(self) -> str:
        return self.record.summary.target

    def at(self, stage: str, metric: str | None = None) -> np.ndarray:
        index = {"base": self._base, "unlearned": self._unlearned}[stage]
        return self.stages[index][metric or self.target]

    def curve(self, metric: str | None = None) -> list[tuple[int, np.ndarray]]:
        """(relearning step, values) for every relearning stage, step 0 (the unlearned model) first."""
        return [(step, self.stages[i][metric or self.target]) for step, i in self._relearn]

    def key(self, *stages: str) -> tuple[bytes, ...]:
        """What the named stages ("base", "unlearned", "relearn") of this run are made of: two runs with equal
        keys scored the same examples the same way."""
        indices = {"base": [self._base], "unlearned": [self._unlearned], "relearn": [i for _, i in self._relearn]}
        return tuple(self.signatures[i] for name in stages for i in indices[name])

    def sample_of(self, metric: str) -> str | None:
        info = self.record.evaluation
        return None if info is None or metric not in info.statistics else info.statistics[metric].sample

    def crossed(self, metric: str) -> bool:
        """Whether every seed scores `metric` on the same examples (its sample is not drawn by the seed)."""
        return self.sample_of(metric) not in self.seeded

    def binary_counts(self, metric: str) -> tuple[int, int, int] | None:
        """(right → wrong, wrong → right, asked) between base and unlearned for an accuracy over the same
        questions; None for any other metric or without per-example columns."""
        if self.evaluations is None:
            return None
        return binary_counts(self.evaluations[self._base], self.evaluations[self._unlearned], metric)


def seeded_samples(record: Record) -> frozenset[str]:
    """The samples whose examples the run's seed drew. Records that predate the field say so in prose: a seed
    that varies "evaluation sampling" drew the target's sample (toxicity's completions)."""
    info = record.evaluation
    if info is None:
        return frozenset()
    if info.seeded_samples is not None:
        return frozenset(info.seeded_samples)
    if "evaluation sampling" in (record.provenance.seed_varies or []):
        return frozenset({info.statistics[record.summary.target].sample})
    return frozenset()


class Resampler:
    """The board's one set of bootstrap counts per (sample, size), and every record's stage scores under them
    (computed once per record)."""

    def __init__(self, replicates: int = REPLICATES, seed: int = BOOTSTRAP_SEED, part: Part = "all") -> None:
        """`part`: the examples the board reports ("test": the two thirds that chose no configuration,
        bench.api.split; "all": every example)."""
        self.replicates, self.seed, self.part = replicates, seed, part
        self._weights: dict[tuple[str, int], np.ndarray] = {}
        self._runs: dict[int, RunDraws] = {}

    def weights(self, sample: str, n: int) -> np.ndarray:
        """(1 + replicates) × n counts: row 0 all ones (the point estimate), then multinomial resamples."""
        key = (sample, n)
        if key not in self._weights:
            rng = np.random.default_rng([self.seed, zlib.crc32(sample.encode()), n])
            draws = rng.multinomial(n, np.full(n, 1.0 / n), size=self.replicates).astype(np.float64) if n else \
                np.zeros((self.replicates, 0))
            self._weights[key] = np.vstack([np.ones((1, n)), draws])
        return self._weights[key]

    def run(self, record: Record) -> RunDraws:
        cached = self._runs.get(id(record))
        if cached is not None and cached.record is record:
            return cached
        draws = self._draw(record)
        self._runs[id(record)] = draws
        return draws

    def _draw(self, record: Record) -> RunDraws:
        needed = [m.name for m in record.metrics if m.role in ("target", "retain")]
        path = record.examples
        if record.evaluation is None or path is None or not path.exists():
            # No per-example columns (a record of schema 1, or one made without them): point values only, and
            # every stage its own signature (nothing can be shown identical).
            stages = [{m: np.array([math.nan if s.scores.get(m) is None else float(s.scores[m])]) for m in needed}
                      for s in record.stages]
            signatures = [hashlib.blake2b(repr((record.run_id, i)).encode(), digest_size=16).digest()
                          for i in range(len(record.stages))]
            return RunDraws(record, stages, None, signatures, seeded_samples(record))
        with np.load(path) as arrays:
            columns = dict(arrays)
        statistics = record.evaluation.statistics
        evaluations = [part_of(unpack(columns, f"stage{i}", statistics), self.part) for i in range(len(record.stages))]
        stages, signatures = [], []
        for evaluation in evaluations:
            digest = hashlib.blake2b(digest_size=16)
            for sample in sorted(evaluation.samples):
                for column in sorted(evaluation.samples[sample]):
                    digest.update(f"{sample}/{column}".encode())
                    digest.update(np.ascontiguousarray(evaluation.samples[sample][column]).tobytes())
            signatures.append(digest.digest())
            sizes = evaluation.sizes()
            sums: dict[str, dict[str, np.ndarray]] = {}
            values = {}
            for metric in needed:
                statistic = statistics[metric]
                weights = self.weights(statistic.sample, sizes[statistic.sample])
                sample_sums = sums.setdefault(statistic.sample, {})
                for column in statistic.columns:
                    if column not in sample_sums:
                        sample_sums[column] = weights @ evaluation.samples[statistic.sample][column]
                values[metric] = statistic.of_sums(sample_sums)
            stages.append(values)
        return RunDraws(record, stages, evaluations, signatures, seeded_samples(record))


# --- the figures, on draws (row 0: the point estimate) ----------------------------------------------------------

def relative_drop(base: np.ndarray, after: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """bench.api.metrics.relative_drop on arrays: NaN where the base is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(np.abs(base) < EPS, np.nan, (base - after) / np.where(np.abs(base) < EPS, 1.0, np.abs(base)))
    return drop if higher_is_better else -drop


def log_step_mean(steps: Sequence[int], values: Sequence[np.ndarray], clip: bool = False) -> np.ndarray:
    """bench.api.metrics.log_step_mean on arrays: the trapezoid area over log(1 + step) ÷ its range."""
    xs = [math.log1p(s) for s in steps]
    ys = [np.clip(v, 0.0, 1.0) if clip else v for v in values]
    if len(xs) < 2 or xs[-1] <= xs[0]:
        return np.full_like(values[0], np.nan) if values else np.array([np.nan])
    area = sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:]))
    return area / (xs[-1] - xs[0])


def forgetting(run: RunDraws) -> np.ndarray:
    return relative_drop(run.at("base"), run.at("unlearned"))


def collateral(run: RunDraws, metric: str, higher_is_better: bool) -> np.ndarray:
    return relative_drop(run.at("base", metric), run.at("unlearned", metric), higher_is_better)


def removed(run: RunDraws) -> np.ndarray:
    """The log-step mean over the attack of (m_base − m(t)) / m_base."""
    base = run.at("base")
    curve = run.curve()
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = [np.where(np.abs(base) < EPS, np.nan, (base - v) / base) for _, v in curve]
    return log_step_mean([s for s, _ in curve], gaps)


def relearned(run: RunDraws) -> np.ndarray:
    """(m(T) − m_unlearned) / m_base at the attack's last step."""
    base = run.at("base")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(base) < EPS, np.nan, (run.curve()[-1][1] - run.at("unlearned")) / base)


def score(run: RunDraws, none: RunDraws) -> np.ndarray:
    """removed vs none: what is still missing compared with the intact model relearned the same way."""
    return removed(run) - removed(none)


def resolved(run: RunDraws) -> bool:
    """Whether this run's forgetting is resolved above 0 from its evaluation noise (`is_resolved`):
    deterministic, so identical runs are resolved alike. A record without per-example columns keeps what
    its run found."""
    values = forgetting(run)
    verdict = is_resolved(float(values[0]), values[1:], run.binary_counts(run.target))
    return bool(run.record.summary.forgetting_resolved) if verdict is None else verdict


def recovery_vs_none(run: RunDraws, none: RunDraws, is_resolved: bool) -> list[tuple[int, np.ndarray | None]]:
    """r(t) = (m(t) − m_unlearned) / (m_none(t) − m_unlearned) at the steps both share; None where the
    forgetting is not resolved or the gap m_none(t) − m_unlearned is not above its own joint noise."""
    mine, control = dict(run.curve()), dict(none.curve())
    unlearned = run.at("unlearned")
    out: list[tuple[int, np.ndarray | None]] = []
    for step in sorted(set(mine) & set(control)):
        gap = control[step] - unlearned
        noise = float(np.nanstd(gap[1:], ddof=1)) if len(gap) > 2 else 0.0
        if not is_resolved or not np.isfinite(gap[0]) or gap[0] <= Z * noise or gap[0] < EPS:
            out.append((step, None))
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append((step, (mine[step] - unlearned) / gap))
    return out


def resistance(curve: list[tuple[int, np.ndarray | None]]) -> np.ndarray | None:
    """1 − the area under clip(r, 0, 1) over log(1 + step), on the defined points (None with fewer than two)."""
    points = [(step, r) for step, r in curve if r is not None]
    if len(points) < 2:
        return None
    return 1.0 - log_step_mean([s for s, _ in points], [r for _, r in points], clip=True)


def resistance_vs_base(run: RunDraws, is_resolved: bool) -> np.ndarray | None:
    """The record's own resistance: r(t) against m_base (the papers' definition)."""
    if not is_resolved:
        return None
    base, unlearned = run.at("base"), run.at("unlearned")
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = [(step, (v - unlearned) / (base - unlearned)) for step, v in run.curve()]
    return resistance(curve)


# --- over seeds ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeedValue:
    """One seed's figure: its draws (row 0 the point) and what it is made of (equal keys: the same run)."""

    seed: int
    draws: np.ndarray
    key: tuple


def over_seeds(values: Sequence[SeedValue], *, crossed: bool, note: str | None = None) -> Estimate:
    """The estimate over seeds: seeds whose inputs are identical are one replicate (counted once), undefined
    seeds are left out, and the evaluation draws of the replicates' mean share their example indices."""
    defined = [v for v in values if v.draws is not None and np.isfinite(v.draws[0])]
    if not defined:
        return UNDEFINED
    distinct: dict[tuple, SeedValue] = {}
    for v in defined:
        distinct.setdefault(v.key, v)
    replicates = list(distinct.values())
    points = [float(v.draws[0]) for v in replicates]
    has_draws = all(len(v.draws) > 1 for v in replicates)
    eval_draws = np.mean([v.draws[1:] for v in replicates], axis=0) if has_draws else None
    return combine(points, eval_draws, crossed=crossed, seeds=len(defined), note=note)


def accuracy_drop_over_seeds(runs: Sequence[RunDraws], metric: str, higher_is_better: bool,
                             estimate: Estimate) -> Estimate:
    """Where an accuracy's change base → unlearned is one replicate, or nothing changed at any seed, its
    interval is exact (McNemar; Clopper–Pearson) instead of a bootstrap's: a bootstrap of one question that
    changed, or of none, claims a precision it does not have."""
    if estimate.mean is None or not higher_is_better:
        return estimate
    counts = [run.binary_counts(metric) for run in runs]
    if any(c is None for c in counts):
        return estimate
    unchanged = all(lost == gained == 0 for lost, gained, _ in counts)
    if estimate.replicates != 1 and not unchanged:
        return estimate
    lost, gained, asked = counts[0]
    base = float(runs[0].at("base", metric)[0])
    if base < EPS or asked == 0:
        return estimate
    return paired_accuracy_drop(lost, gained, asked, 1.0 / base, seeds=estimate.seeds)


def figure_over_seeds(runs: dict[int, RunDraws], figure: Callable[[int, RunDraws], np.ndarray | None],
                      key: Callable[[int, RunDraws], tuple], *, crossed: bool, note: str | None = None) -> Estimate:
    """A figure computed per seed (`figure(seed, run)`; None: undefined at that seed) and combined."""
    values = []
    for seed, run in sorted(runs.items()):
        draws = figure(seed, run)
        if draws is not None:
            values.append(SeedValue(seed, draws, key(seed, run)))
    return over_seeds(values, crossed=crossed, note=note)


def standard_error(draws: np.ndarray) -> float | None:
    rest = draws[1:][np.isfinite(draws[1:])]
    return float(np.std(rest, ddof=1)) if len(rest) > 1 else None


def half_width(draws: np.ndarray) -> float | None:
    se = standard_error(draws)
    return None if se is None else Z * se
