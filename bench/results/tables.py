"""Rich tables for records (what `bench run`, `show` and `runs` print). They fit an 80-column terminal."""

from __future__ import annotations

from rich import box
from rich.markup import escape
from rich.table import Table

from bench.api.metrics import COLLATERAL_BOUNDS
from bench.api.record import Record


def fmt(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _title(record: Record) -> str:
    name = escape(record.method.label or record.method.name)  # "[standardized]" is not markup
    return (f"{name} on {record.task.name} ({record.task.concept}): {unlearning_summary(record)}; "
            f"attack {attack_summary(record)}")


def attack_summary(record: Record) -> str:
    """The attack with its options: "finetune", "quantize (bits=8)"."""
    return escape(record.attack_label())


def attacker_bound(record: Record) -> str:
    """Where the attack went beyond the attacker's own bound (its checkpoints that wrecked a retain metric)."""
    attack = record.attack
    steps = record.inadmissible_steps()
    bounds = ", ".join(f"{family} {bound:g}" for family, bound in (attack.bounds or COLLATERAL_BOUNDS).items())
    checked = "" if attack.inadmissible is not None else "; checked from the stages of a record written before the bound"
    if not steps:
        return f"kept at every checkpoint (retain damage ≤ {bounds}{checked})"
    return f"inadmissible at {attack.unit} {', '.join(map(str, steps))} (retain damage > {bounds}{checked})"


def unlearning_summary(record: Record) -> str:
    """What the method did, in its family's budget: "461/46080 mlp units pruned", "weights edited: 32 steps at
    lr 1e-05"."""
    u, mask = record.unlearning, record.mask
    parts = []
    if mask is not None:
        short = (f" (of {mask.k_requested} allowed: the method ranked no more)"
                 if mask.k_requested is not None and mask.k_requested > mask.k else "")
        parts.append(f"{mask.k}/{mask.total} {mask.space} units pruned{short}")
    if u.kind in ("weights", "both"):
        parts.append(f"weights edited: {u.steps_text()}")
    return "; ".join(parts) or "nothing removed"


def _support(stage, metric: str) -> str:
    """"120 of 480 examples": what the metric is computed on, of the examples resampled for it."""
    support, size = stage.support.get(metric), stage.sizes.get(metric)
    return f"{size} examples" if support is None or support == size else f"{support} (support) of {size} examples"


def stages_table(record: Record) -> Table:
    """One row per evaluated stage: the target, the mean of the retain metrics, and the first info metric."""
    target, info = record.metric_names("target")[0], record.metric_names("info")[:1]
    retain = record.averaged_retain_names()
    separate = [n for n in record.metric_names("retain") if n not in retain]  # e.g. perplexity
    beyond = set(record.inadmissible_steps())
    table = Table(title=_title(record), box=box.SIMPLE_HEAD, caption=_caption(record) + (
        "\n✗: beyond the attacker's bound (inadmissible)" if beyond else ""))
    # A relearning stage's step counts the attack's unit (optimizer steps, shots shown, applications).
    unit = {"shots": "shots", "applications": "applied"}.get(record.attack.unit, "step")
    for column in ("stage", unit, "epoch"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    table.add_column(f"{target}\n(target)", justify="right", style="bold")
    table.add_column(f"retain mean\n({len(retain)} metrics)", justify="right")
    for name in [*separate, *info]:
        table.add_column(name, justify="right")
    for stage in record.stages:
        label = stage.stage + (" ✗" if stage.stage == "relearn" and stage.step in beyond else "")
        table.add_row(label, str(stage.step), f"{stage.epoch:.2f}", fmt(stage.scores.get(target)),
                      fmt(record.retain_mean(stage.scores)), *[fmt(stage.scores.get(n)) for n in [*separate, *info]])
    return table


def _caption(record: Record) -> str:
    return f"run {record.run_id} · model {record.model.ref} · seed {record.config['seed']} · {record.created}"


def metrics_table(record: Record) -> Table:
    """Every metric (rows: target, then retain, then info) at every stage (columns): what `bench show` prints."""
    table = Table(title=_title(record), caption=_caption(record), box=box.SIMPLE_HEAD)
    table.add_column("metric", no_wrap=True)
    labels = {"base": "base", "unlearned": "pruned" if record.unlearning.kind == "mask" else "unlearned"}
    for stage in record.stages:
        table.add_column(labels.get(stage.stage, f"+{stage.step}"), justify="right")
    for role in ("target", "retain", "info"):
        names = record.metric_names(role)
        for i, name in enumerate(names):
            table.add_row(name, *[fmt(s.scores.get(name)) for s in record.stages],
                          style="bold" if role == "target" else None, end_section=i == len(names) - 1)
    return table


def summary_table(record: Record) -> Table:
    s = record.summary
    intervals = s.intervals

    def with_interval(name: str, value: float | None) -> str:
        bounds = intervals.get(name)
        return fmt(value) + (f"  [{fmt(bounds[0])}, {fmt(bounds[1])}]" if bounds else "")

    base = record.stage("base")[0]
    resolution = base.intervals.get(s.target)
    table = Table(title="summary (95% intervals over evaluation examples)", show_header=False, box=box.SIMPLE)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rt90 = fmt(s.rt90) if s.rt90_status == "reached" else (
        f"> {s.recovery[-1][0] if s.recovery else s.relearn_steps}" if s.rt90_status == "not reached" else "–")
    rows = [
        ("target metric", s.target),
        ("base → unlearned", f"{fmt(s.m_base)} → {fmt(s.m_unlearned)}"),
        ("base resolution", f"± {fmt((resolution[1] - resolution[0]) / 2)} on {_support(base, s.target)}"
                            if resolution else "–"),
        ("forgetting", with_interval("forgetting", s.forgetting) + ("" if s.forgetting_resolved else "  (not resolved)")),
        *[(f"collateral {name}", with_interval(f"collateral/{name}", drop))
          for name, drop in s.collateral_by_metric.items()],
        ("removed", with_interval("removed", s.removed)),
        (f"rt90 ({record.attack.unit})", rt90),
        ("aurc", with_interval("aurc", s.aurc)),
        ("resistance", with_interval("resistance", s.resistance)),
        ("recovery r(t)", ", ".join(f"{step}:{fmt(r, 2)}" for step, r in s.recovery)),
        ("attack", attack_summary(record)),
        ("attacker's bound", attacker_bound(record)),
        ("wall time", f"{record.timings.get('total', 0):.0f} s on {record.provenance.device['type']}"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def runs_table(rows) -> Table:
    table = Table(title="recorded runs", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    table.add_column("run id", no_wrap=True)
    for column in ("method", "task/concept", "seed", "k", "forg", "coll", "rt90", "aurc"):
        left = column in ("method", "task/concept")
        table.add_column(column, justify="left" if left else "right", no_wrap=True, min_width=len(column))
    for r in rows:
        table.add_row(r.run_id, r.method, f"{r.task}/{r.concept}", str(r.seed), fmt(r.k), fmt(r.forgetting, 2),
                      fmt(r.collateral, 2), fmt(r.rt90), fmt(r.aurc, 2))
    return table


def seeds_table(records: list[Record]) -> Table:
    """Mean ± 95% CI over seeds for every shared stage, then every figure a record alone defines (the
    leaderboard's own columns, like the paper's Table 2), each interval with its evaluation error."""
    from bench.results.leaderboard import seed_statistics
    from bench.results.statistics import per_stage

    first = records[0]
    seeds = ", ".join(str(r.config["seed"]) for r in records)
    table = Table(title=f"{_title(first)}: mean ± 95% CI over seeds {seeds}", box=box.SIMPLE_HEAD,
                  caption="runs " + ", ".join(r.run_id for r in records))
    table.add_column("stage")
    table.add_column("step", justify="right")
    table.add_column(f"{first.summary.target} (target)", justify="right", style="bold")
    table.add_column("retain mean", justify="right")
    for stage, step, target, retain in per_stage(records):
        table.add_row(stage, str(step), str(target), str(retain))
    table.add_section()
    for name, value in seed_statistics(records).items():
        table.add_row(name, "", str(value), "", style="italic")
    return table


def top_units_table(record: Record) -> Table | None:
    """The method's own account of what it pruned first (e.g. SNIP's explanations), when it gives one."""
    units = record.method.info.get("top_units")
    if not units:
        return None
    score = record.method.info.get("score", "score")
    table = Table(title=f"top pruned units ({record.method.name})", box=box.SIMPLE_HEAD)
    table.add_column("unit", no_wrap=True)
    table.add_column(score, justify="right")
    table.add_column("explanation")
    for unit in units:
        table.add_row(f"{unit['layer']}.{unit['index']}", fmt(unit.get(score)), escape(unit.get("explanation") or "–"))
    return table


def plan_table(planned, estimates=None) -> Table:
    """A sweep's plan: one row per run, in the order it runs, with its run id, whether it is recorded and,
    given `estimates` (bench.harness.costs), how long it should take here."""
    profiles = sorted({str(run.config.profile) for run in planned})
    table = Table(title=f"sweep plan: {len(planned)} runs (profile {', '.join(profiles)})", box=box.SIMPLE_HEAD)
    for column in ("#", "seed", "task", "method", "budget", "run", "estimate"):
        table.add_column(column, justify="right" if column in ("#", "estimate") else "left",
                         no_wrap=column in ("run", "estimate"))
    for i, run in enumerate(planned):
        cfg = run.config
        budget = (f"{cfg.fraction:.3g} of units" if cfg.fraction is not None else f"{cfg.k} units" if cfg.k is not None
                  else "steps (options)")
        options = ", ".join(f"{k}={v}" for k, v in sorted(cfg.method_options.items()))
        method = cfg.method + (f" ({options})" if options else "")
        if run.error is not None:
            status, estimate = f"[red]cannot run[/]: {escape(run.error)}", ""
        else:
            status = run.run_id + (" [green]recorded[/]" if run.recorded else "")
            estimate = "" if run.recorded or estimates is None else str(estimates[i])
        table.add_row(str(i + 1), str(cfg.seed), cfg.task, escape(method), budget, status, estimate)
    return table


def gate_table(results, baseline: str) -> Table:
    """The regression gate's verdict per entry and figure."""
    table = Table(title=f"regression check against {baseline}", box=box.SIMPLE_HEAD)
    for column in ("entry", "figure", "baseline", "now", "change", "tolerance", "verdict"):
        table.add_column(column, justify="left" if column in ("entry", "figure", "verdict") else "right")
    for r in results:
        verdict = "[green]ok[/]" if r.problem is None else f"[red]REGRESSED[/]: {escape(r.problem)}"
        table.add_row(escape(r.entry), r.figure, fmt(r.baseline), fmt(r.current), fmt(r.change), fmt(r.tolerance), verdict)
    return table


def registry_table(registry) -> Table:
    """A plug-in kind: every registered name, its version, where it came from, and what failed to load."""
    table = Table(title=f"{registry.kind}s")
    table.add_column("name", style="bold")
    table.add_column("version", justify="right")
    table.add_column("from")
    table.add_column("description")
    for entry in registry.entries():
        table.add_row(entry.name, str(getattr(entry.obj, "version", "")), entry.origin, entry.description)
    for name, problem in registry.failures().items():
        table.add_row(name, "", "[red]failed to load[/]", problem)
    return table


def assets_table(rows) -> Table:
    """Offline assets: (asset, installed path or None) pairs."""
    table = Table(title="offline assets")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("kind")
    table.add_column("installed", no_wrap=True)
    table.add_column("what it is")
    for asset, path in rows:
        table.add_row(asset.name, asset.kind, "[green]yes[/]" if path else "[red]missing[/]",
                      f"{asset.description} [dim]({asset.requirement})[/]")
    return table
