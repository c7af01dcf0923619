"""Commands about one run: run it, show it, analyse it, list the recorded runs."""

from __future__ import annotations

import argparse
import dataclasses

from bench.cli.arguments import add_run_flags, config_from_args, out
from bench.core.errors import BenchError


def cmd_run(args: argparse.Namespace) -> int:
    from bench.harness.protocol import run
    from bench.harness.store import run_folder
    from bench.results.report import write_run_outputs
    from bench.results.tables import (
        seeds_table,
        stages_table,
        summary_table,
        top_units_table,
    )

    if args.seeds and "seed" in vars(args):
        raise BenchError("give --seed or --seeds, not both")
    cfg = config_from_args(args)
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
    from rich import box
    from rich.table import Table

    from bench.harness.store import find
    from bench.results.report import analyze, saliency_rows, write_report

    analysis = analyze(find(args.run))
    header, rows = saliency_rows(analysis)
    last = analysis.snapshots[-1].label
    table = Table(title=f"{analysis.record.task.concept}: % of salient units per layer; share of units whose "
                        f"HATs at {last} stay similar to the base model's", box=box.SIMPLE_HEAD)
    for column in header:
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    out.print(table)
    out.print(f"report: {write_report(analysis)}", soft_wrap=True)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from bench.harness.store import list_runs, reindex
    from bench.results.tables import runs_table

    if args.reindex:
        out.print(f"index rebuilt from the run folders: {reindex()} runs")
    out.print(runs_table(list_runs()))
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("run", help="run the prune → evaluate → retrain → evaluate protocol once")
    add_run_flags(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("show", help="print a recorded run")
    p.add_argument("run", help="run id (or unique prefix), or a record.json path")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("analyze", help="concept saliency, HATs and similarity of a run recorded with --analyze true")
    p.add_argument("run", help="run id (or unique prefix), or a record.json path")
    p.set_defaults(func=cmd_analyze)
    p = sub.add_parser("runs", help="list recorded runs")
    p.add_argument("--reindex", action="store_true",
                   help="rebuild the index from the run folders first (the records are the truth)")
    p.set_defaults(func=cmd_runs)
