"""A method's configuration chosen on validation examples and reported on test examples (bench.api.split): the
frontier of forgetting against collateral over its grid, the chosen point, its page and its plot.

The choice sees only the validation rows of each evaluation; the figures the page reports for every configuration
are computed on the test rows, with the paired bootstrap of a run (bench.harness.uncertainty). A configuration is
eligible when its collateral on the validation rows is within every retain metric's bound and the method reached
its own objective there; among those, the most forgetting wins, and a tie goes to the earlier configuration (the
grid's order: the smaller budget first).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api.evaluation import Evaluation
from bench.api.metrics import (
    COLLATERAL_BOUNDS,
    beyond_bounds,
    collateral,
    collateral_by_metric,
    forgetting,
)
from bench.api.split import VALIDATION_SHARE, Part, part_of, split_rows
from bench.core.files import atomic_file, write_json_atomic, write_text_atomic
from bench.core.plugins import METHODS
from bench.harness.uncertainty import rounded, run_uncertainty

CHOICE_RULE = ("the most forgetting on the validation examples among the configurations whose collateral there is "
               "within the bound of every retain metric at the upper end of its 95% interval (the board's own rule) "
               "and whose method reached its own objective; a tie goes to the smaller budget (the grid's order)")
REPLICATES = 400  # per point and part: the frontier has tens of points, and these intervals are for reading


@dataclass(frozen=True)
class Figures:
    """A configuration's forgetting and collateral on one part of the examples, with 95% paired intervals."""

    forgetting: float | None
    forgetting_interval: list[float] | None
    collateral: float | None
    collateral_interval: list[float] | None
    drops: dict[str, float | None]  # retain metric -> its relative drop
    drops_upper: dict[str, float | None]  # retain metric -> the upper end of its drop's 95% interval


def figures(base: Evaluation, unlearned: Evaluation, metrics: Sequence[Mapping[str, Any]], part: Part,
            replicates: int = REPLICATES) -> Figures:
    b, u = part_of(base, part), part_of(unlearned, part)
    target = next(m["name"] for m in metrics if m["role"] == "target")
    retain = {m["name"]: m["higher_is_better"] for m in metrics if m["role"] == "retain"}
    uncertainty = run_uncertainty([b, u, u], [("base", 0), ("unlearned", 0), ("relearn", 0)], target, retain,
                                  replicates=replicates)
    base_scores, after = b.scores(), u.scores()
    drops = collateral_by_metric(base_scores, after, retain)
    forgot = (None if base_scores[target] is None or after[target] is None
              else forgetting(base_scores[target], after[target]))
    intervals = uncertainty.summary_intervals
    upper = {name: None if intervals.get(f"collateral/{name}") is None else round(intervals[f"collateral/{name}"][1], 6)
             for name in drops}
    return Figures(forgot, rounded(intervals.get("forgetting")), collateral(drops), rounded(intervals.get("collateral")),
                   drops, upper)


def why_not_eligible(validation: Figures, objective: Mapping[str, Any] | None, families: Mapping[str, str],
                     bounds: Mapping[str, float] = COLLATERAL_BOUNDS) -> str | None:
    """Why a configuration cannot be chosen (None: it can), from its validation figures alone."""
    if objective is not None and objective.get("reached") is False:
        return "did not reach its objective"
    if validation.forgetting is None or validation.collateral is None:
        return "forgetting or collateral undefined"
    if beyond_bounds(validation.drops, families, bounds):
        return "collateral beyond the bound"
    # As the board decides "within the bound": at the interval's upper end. Choosing at the point estimate picks
    # configurations at the bound, where the test examples' own noise puts half of them beyond it.
    upper = {name: drop if validation.drops_upper.get(name) is None else validation.drops_upper[name]
             for name, drop in validation.drops.items()}
    if beyond_bounds(upper, families, bounds):
        return "collateral within the bound not established"
    return None


def choose(validations: Sequence[Figures], objectives: Sequence[Mapping[str, Any] | None],
           families: Mapping[str, str], bounds: Mapping[str, float] = COLLATERAL_BOUNDS) -> int | None:
    """The index of the chosen configuration (None: none is eligible). It reads validation figures only."""
    best = None
    for i, (validation, objective) in enumerate(zip(validations, objectives, strict=True)):
        if why_not_eligible(validation, objective, families, bounds) is None and (
                best is None or validation.forgetting > validations[best].forgetting):
            best = i
    return best


def frontier_report(run) -> dict[str, Any]:
    """The frontier's JSON: every configuration's validation and test figures, the rule, and the choice.
    `run` is a bench.harness.frontier.FrontierRun."""
    families = {m["name"]: m["family"] for m in run.metrics if m["role"] == "retain"}
    validations = [figures(run.base, p.evaluation, run.metrics, "validation") for p in run.points]
    tests = [figures(run.base, p.evaluation, run.metrics, "test") for p in run.points]
    objectives = [p.objective for p in run.points]
    chosen = choose(validations, objectives, families)
    sizes = run.base.sizes()
    rows = {name: int(mask.sum()) for name, mask in split_rows(sizes, "validation").items()}
    points = [{"name": p.name, "setting": p.setting, "steps": p.steps, "budget": p.budget,
               "objective": p.objective, "why_not": why_not_eligible(v, p.objective, families),
               "validation": dataclasses.asdict(v), "test": dataclasses.asdict(t)}
              for p, v, t in zip(run.points, validations, tests, strict=True)]
    choice = None if chosen is None else run.points[chosen]
    options = None if choice is None else {**choice.setting, **({"steps": choice.steps} if choice.steps else {})}
    rule = getattr(METHODS.get(run.cfg.method), "objective", None)  # a pruning method has no objective of its own
    return {"format": 1, "method": run.cfg.method, "task": run.cfg.task, "seed": run.cfg.seed,
            "model": run.cfg.model, "profile": run.cfg.profile, "versions": run.versions,
            "grid": {"options": {k: list(v) for k, v in run.grid.options.items()}, "epochs": run.grid.epochs,
                     "fractions": list(run.grid.fractions), "longest_steps": run.longest,
                     **({"steps_per_octave": run.per_octave} if run.per_octave != 1 else {})},
            "split": {"validation_share": round(VALIDATION_SHARE, 4),
                      "rows": {name: {"validation": rows[name], "test": n - rows[name]} for name, n in sizes.items()}},
            "rule": CHOICE_RULE, "bounds": dict(COLLATERAL_BOUNDS), "retain": families,
            "objective_term": None if rule is None else rule.term, "points": points, "chosen": chosen,
            "chosen_options": options, "seconds": run.seconds}


def _cell(value: float | None, bounds: list[float] | None = None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" + (f" [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else "")


def sweep_entry(report: Mapping[str, Any]) -> str:
    """The chosen configuration as a sweep file's method entry (an option at None is the method's default, and
    TOML has no None: it is left out)."""
    options = report["chosen_options"] or {}
    if "fraction" in options:
        return f"[methods.{report['method']}]  # at fractions = [{options['fraction']}]"
    shown = ", ".join(f"{k} = {json.dumps(v)}" for k, v in options.items() if v is not None)
    return f"[methods.{report['method']}]\nmethod_options = {{ {shown} }}"


def frontier_page(report: Mapping[str, Any], plot: str | None = None) -> str:
    """The frontier as Markdown: the rule, the chosen configuration, and every configuration's figures."""
    chosen = report["chosen"]
    rows = report["split"]["rows"]
    lines = [f"# {report['method']} on {report['task']}: its configuration, chosen on validation examples", "",
             f"Seed {report['seed']}, model {report['model']}, profile {report['profile']}. Every configuration of the "
             f"method's grid was unlearned and evaluated on all of the task's evaluation examples; a third of each "
             "sample's examples chooses, the other two thirds report ("
             + ", ".join(f"{name}: {r['validation']} validation, {r['test']} test" for name, r in rows.items()) + ").",
             "", f"**Rule**: {report['rule']}.", ""]
    if chosen is None:
        lines += ["**No configuration is eligible**: each missed its objective or went beyond the collateral bound on "
                  "the validation examples.", ""]
    else:
        point = report["points"][chosen]
        test = point["test"]
        lines += [f"**Chosen**: {point['name']}: on the test examples, forgetting "
                  f"{_cell(test['forgetting'], test['forgetting_interval'])}, collateral "
                  f"{_cell(test['collateral'], test['collateral_interval'])} (95% paired bootstrap over the examples; "
                  "one seed, so the seeds' spread is not in it). In a sweep file:", "", "```toml",
                  sweep_entry(report), "```", ""]
    if plot:
        lines += [f"![forgetting against collateral, validation and test]({plot})", ""]
    lines += ["| configuration | objective | validation forgetting | validation collateral | test forgetting | "
              "test collateral | unlearning s | not eligible |", "|---|---|---|---|---|---|---|---|"]
    for i, p in enumerate(report["points"]):
        objective, term = p["objective"], report.get("objective_term")
        reached = "—" if objective is None or objective.get("reached") is None else (
            "reached" if objective["reached"] else "missed")
        if objective is not None and term in objective.get("start", {}):
            reached += f": {term} {objective['start'][term]:.3g} → {objective['end'][term]:.3g}"
        v, t = p["validation"], p["test"]
        name = f"**{p['name']}** (chosen)" if i == chosen else p["name"]
        lines.append(f"| {name} | {reached} | {_cell(v['forgetting'])} | {_cell(v['collateral'])} | "
                     f"{_cell(t['forgetting'], t['forgetting_interval'])} | "
                     f"{_cell(t['collateral'], t['collateral_interval'])} | {p['budget'].get('seconds', '—')} | "
                     f"{p['why_not'] or ''} |")
    return "\n".join(lines) + "\n"


def plot_frontier(report: Mapping[str, Any], fmt: str = "png") -> bytes:
    """Forgetting against collateral for every configuration, validation beside test; a weight-editing setting's
    steps are joined in order; the chosen configuration is a star; the bound is a dotted line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.results.pages import _figure_bytes

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), dpi=110, sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    settings: dict[str, list[int]] = {}
    for i, p in enumerate(report["points"]):
        settings.setdefault(", ".join(f"{k}={v}" for k, v in p["setting"].items()), []).append(i)
    bound = min(report["bounds"].values())
    for ax, part in zip(axes, ("validation", "test"), strict=True):
        for number, (label, indices) in enumerate(settings.items()):
            color = colors[number % len(colors)]
            xs = [report["points"][i][part]["collateral"] for i in indices]
            ys = [report["points"][i][part]["forgetting"] for i in indices]
            shown = [(x, y, i) for x, y, i in zip(xs, ys, indices, strict=True) if x is not None and y is not None]
            if not shown:
                continue
            ax.plot([x for x, _, _ in shown], [y for _, y, _ in shown], "-", color=color, alpha=0.6, linewidth=1,
                    label=label)
            for x, y, i in shown:
                missed = report["points"][i]["why_not"] == "did not reach its objective"
                ax.plot(x, y, "o", color=color, markersize=4, markerfacecolor="none" if missed else color)
        if report["chosen"] is not None:
            p = report["points"][report["chosen"]][part]
            if p["collateral"] is not None and p["forgetting"] is not None:
                ax.plot(p["collateral"], p["forgetting"], "*", color="black", markersize=14, zorder=5,
                        label="chosen" if part == "validation" else None)
        ax.axvline(bound, color="0.5", linestyle=":", linewidth=1)
        ax.set_xlabel("collateral (worst retain metric's relative drop)")
        ax.set_title(f"{part} examples", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("forgetting")
    handles, labels = axes[0].get_legend_handles_labels()
    columns = min(3, max(1, len(labels)))
    rows = -(-len(labels) // columns)
    fig.set_size_inches(11, 4.6 + 0.18 * rows)
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=7, frameon=False)
    fig.suptitle(f"{report['method']} on {report['task']}: every configuration (hollow: objective missed)", fontsize=11)
    fig.tight_layout(rect=(0, (0.2 * rows + 0.15) / (4.6 + 0.18 * rows), 1, 1))
    return _figure_bytes(fig, fmt)


def write_frontier(report: Mapping[str, Any], folder: Path) -> Path:
    """frontier.json, frontier.png and README.md in `folder`; the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "frontier.json", report)
    with atomic_file(folder / "frontier.png") as handle:
        handle.write(plot_frontier(report))
    page = folder / "README.md"
    write_text_atomic(page, frontier_page(report, "frontier.png"))
    return page
