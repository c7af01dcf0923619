"""Commands that read records into leaderboards: build the pages, gate a configuration, submit a method."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bench.cli.arguments import key_value, out
from bench.core.errors import BenchError


def _records(args: argparse.Namespace):
    import torch

    from bench.results.sources import records_from

    return records_from(Path(args.records) if args.records else None, Path(args.config) if args.config else None,
                        has_gpu=torch.cuda.is_available())


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.results.leaderboard import build_boards, parse_bounds
    from bench.results.pages import write_leaderboard
    from bench.results.paired import Resampler

    records = _records(args)
    boards = build_boards(records, bounds=parse_bounds(args.bound), resampler=Resampler(part=args.examples))
    if args.scope:
        from bench.results.scope import read_scope, scope_notes

        notes = scope_notes(read_scope(Path(args.scope)), records, [b.task for b in boards])
        for board in boards:
            board.left_out = notes.get(board.task)
    paths, removed = write_leaderboard(boards, Path(args.out))
    if args.readme:
        from bench.results.findings import write_readme
        from bench.results.leaderboard import leaderboard_json

        write_readme(Path(args.readme), leaderboard_json(boards), Path(args.out))
        paths.append(Path(args.readme))
    for board in boards:
        ranked = escape(", ".join(f"{e.rank}. {e.label}" for e in board.ranked()) or "none ranked")
        out.print(f"[bold]{escape(board.title())}[/]: {len(board.entries)} entr{'y' if len(board.entries) == 1 else 'ies'}; {ranked}", highlight=False)
    if removed:  # pages of boards these records no longer make: a page left behind would read as current
        out.print(f"removed {len(removed)} files of boards an earlier build wrote there and these records no longer "
                  f"make: {', '.join(p.name for p in removed)}", soft_wrap=True, highlight=False)
    out.print(f"wrote {len(paths)} files to {args.out} (open {next((p for p in paths if p.suffix == '.html'), paths[0])})", soft_wrap=True)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from bench.core.files import write_json_atomic
    from bench.results.gate import compare, read_baseline
    from bench.results.leaderboard import build_boards, leaderboard_json
    from bench.results.tables import gate_table

    if not args.records and not args.config:
        raise BenchError("give the configuration to check: --config SWEEP.toml (its recorded runs) or --records DIR")
    boards = build_boards(_records(args))
    if args.write_baseline:
        write_json_atomic(Path(args.write_baseline), leaderboard_json(boards))
        out.print(f"baseline written to {args.write_baseline}", soft_wrap=True)
        return 0
    if not args.baseline:
        raise BenchError("give --baseline FILE to check against (or --write-baseline FILE to make one)")
    results = compare(read_baseline(Path(args.baseline)), boards, floor=args.floor)
    out.print(gate_table(results, args.baseline))
    failed = [r for r in results if r.problem is not None]
    for r in failed:
        Console(stderr=True).print(f"[red]regression[/] {escape(r.entry)}: {escape(r.problem)}", highlight=False, soft_wrap=True)
    out.print(f"{len(results) - len(failed)} passed, {len(failed)} failed" if failed else
              f"no regression: {len(results)} figures within tolerance")
    return 1 if failed else 0


def cmd_submit(args: argparse.Namespace) -> int:
    import torch

    from bench.core.plugins import METHODS
    from bench.harness.sweep import plan, read_sweep_file, run_sweep
    from bench.results.submission import export_records, submission_sweep

    spec = submission_sweep(read_sweep_file(args.config), args.method, dict(args.method_options),
                            allow_builtin=args.allow_builtin)
    out.print(f"submitting {args.method} ({METHODS.entry(args.method).origin}) with the pinned configuration "
              f"{args.config}", soft_wrap=True)
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


def add_parsers(sub) -> None:
    from bench.results.gate import DEFAULT_FLOOR
    from bench.results.leaderboard import DEFAULT_BOUNDS

    p = sub.add_parser("leaderboard", help="build leaderboards (Markdown, HTML, JSON) from records")
    p.add_argument("action", choices=("build",))
    p.add_argument("--records", metavar="DIR", help="a folder of record files, e.g. leaderboards/records (default: the store)")
    p.add_argument("--config", help="a sweep TOML file: its recorded runs (`bench sweep --config` runs them)")
    p.add_argument("--out", default="leaderboards", metavar="DIR", help="where to write the pages (default: leaderboards)")
    p.add_argument("--examples", choices=("all", "test"), default="all",
                   help="report on every evaluation example, or on the test part only (where configurations were "
                        "chosen on the validation part with `bench frontier`)")
    p.add_argument("--bound", action="append", type=key_value, default=[], metavar="FAMILY=X",
                   help="collateral bound of a retain-metric family; an entry above it on any retain metric is listed "
                        "but not ranked (default " + ", ".join(f"{k}={v:g}" for k, v in DEFAULT_BOUNDS.items()) + ")")
    p.add_argument("--scope", metavar="FILE", help="a scope file (sweep = the pinned grid, [why] per task): each page "
                   "lists the grid's runs it lacks and why, and a page that lacks runs without a reason is refused")
    p.add_argument("--readme", metavar="FILE", help="a README with a generated section (its markers): rewrite that "
                   "section with what the boards show, every figure from the boards built here")
    p.set_defaults(func=cmd_leaderboard)
    p = sub.add_parser("check", help="regression gate: exit non-zero if a gated figure moved beyond its uncertainty from a baseline")
    p.add_argument("--baseline", metavar="FILE", help="a leaderboard.json to hold the configuration to")
    p.add_argument("--config", help="a sweep TOML file: its recorded runs (`bench sweep --config` runs them)")
    p.add_argument("--records", metavar="DIR", help="a folder of record files instead of a configuration's runs")
    p.add_argument("--floor", type=float, default=DEFAULT_FLOOR, metavar="X",
                   help=f"smallest tolerance, whatever the seed spread (default {DEFAULT_FLOOR})")
    p.add_argument("--write-baseline", metavar="FILE", help="write the current figures as a baseline instead of checking")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("submit", help="run the pinned leaderboard configuration for a plug-in method and write its records")
    p.add_argument("method", help="the method's registered name (its `bench.methods` entry point)")
    p.add_argument("--config", default="leaderboards/sweep.toml", help="the pinned configuration (default: %(default)s)")
    p.add_argument("--records", default="leaderboards/records", metavar="DIR", help="where the records go (default: %(default)s)")
    p.add_argument("--method-option", dest="method_options", action="append", type=key_value, default=[],
                   metavar="KEY=VALUE", help="a method option (repeatable; recorded in every record)")
    p.add_argument("--allow-builtin", action="store_true", help="submit a built-in method (maintainers)")
    p.set_defaults(func=cmd_submit)
