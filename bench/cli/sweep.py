"""`bench sweep`: plan a grid of runs with their controls, run what is not recorded, export the records."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.markup import escape

from bench.cli.arguments import key_value, list_of, out, seed_list
from bench.core.errors import BenchError


def cmd_sweep(args: argparse.Namespace) -> int:
    from bench.harness.sweep import SweepSpec, read_sweep_file, with_overrides

    spec = with_overrides(read_sweep_file(args.config) if args.config else SweepSpec(methods=(), tasks=()),
                          grid_overrides(args))
    spec.validate()
    executor = make_executor(args)
    try:
        return _sweep(args, spec, executor)
    finally:
        getattr(executor, "close", lambda: None)()


def _sweep(args: argparse.Namespace, spec, executor) -> int:
    import sys

    from bench.harness.costs import CostModel, duration, plan_cost
    from bench.harness.planning import plan_runs, write_plan
    from bench.harness.sweep import plan, run_planned
    from bench.results.report import write_run_outputs
    from bench.results.submission import export_records
    from bench.results.tables import fmt, plan_table

    has_gpu = executor.has_gpu()  # where the runs execute fixes the device and the profile, once
    planned = plan_runs(plan(spec, has_gpu=has_gpu), "cuda" if has_gpu else "cpu")
    if args.export and not args.plan and not args.force:
        planned = _resume_from_export(planned, Path(args.export), dry_run=args.dry_run)
    if args.plan:  # for another machine to run: no estimates from this one
        if args.plan == "-":
            write_plan(planned, sys.stdout)
        else:
            with open(args.plan, "w", encoding="utf-8") as handle:
                write_plan(planned, handle)
            out.print(f"plan of {len(planned)} runs ({sum(p.recorded for p in planned)} recorded) written to {args.plan}")
        return 1 if any(p.error for p in planned) else 0
    costs = CostModel.from_store()
    cost = plan_cost(planned, costs)
    if args.dry_run:
        out.print(plan_table(planned, cost.estimates))
        out.print(cost.summary() + f" (rates measured in {costs.runs} recorded runs)")
        return 1 if any(p.error for p in planned) else 0

    # The sweep's ETA: the estimates of the runs not yet reported (work left, not wall time under several workers).
    left = {_key(run.config): e.seconds for run, e in zip(planned, cost.estimates, strict=True)
            if e is not None and e.seconds is not None}

    def report(i: int, n: int, outcome) -> None:
        cfg = outcome.cfg
        left.pop(_key(cfg), None)
        eta = f"; estimated {duration(sum(left.values()))} of runs left" if left else ""
        what = f"[{i + 1}/{n}] {cfg.method} on {cfg.task}, seed {cfg.seed}"
        if outcome.status == "failed":
            out.print(f"[red]✗[/] {escape(what)}: {escape(str(outcome.error))}", highlight=False)
        elif outcome.status == "missing":
            out.print(f"[yellow]·[/] {escape(what)}: not recorded", highlight=False)
        else:
            if outcome.status == "ran":
                write_run_outputs(outcome.record)
                if args.export:  # each record as it lands: a sweep cut off keeps (and commits) what finished
                    try:
                        export_records([outcome.record], Path(args.export))
                    except (BenchError, OSError) as exc:  # the record is in the store; the final export retries
                        out.print(f"[yellow]not exported yet:[/] {escape(str(exc))}", highlight=False)
            s = outcome.record.summary
            note = "already recorded" if outcome.status == "recorded" else f"{outcome.seconds:.0f} s"
            out.print(f"[green]✓[/] {escape(what)} ({note}): run {outcome.record.run_id}, forgetting "
                      f"{fmt(s.forgetting)}, collateral {fmt(s.collateral)}, aurc {fmt(s.aurc)}{eta}",
                      highlight=False)

    outcomes = run_planned(planned, executor=executor, force=args.force, run_missing=not args.recorded_only,
                           on_outcome=report)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("ran", "recorded", "failed", "missing")}
    out.print(f"sweep: {counts['ran']} ran, {counts['recorded']} already recorded, {counts['failed']} failed"
              + (f", {counts['missing']} not recorded" if args.recorded_only else ""))
    if args.export:
        paths = export_records([o.record for o in outcomes if o.record is not None], Path(args.export))
        out.print(f"exported {len(paths)} validated records to {args.export}", soft_wrap=True)
    return 1 if counts["failed"] else 0


def _resume_from_export(planned: list, folder: Path, *, dry_run: bool) -> list:
    """Runs not in the store whose records are under the export folder (committed by a sweep on another
    machine, or in an earlier session) are imported and count as recorded; a dry run only counts them."""
    from bench.results.submission import import_records, importable

    wanted = {p.run_id: p.config.to_dict() for p in planned if p.run_id and not p.recorded}
    if dry_run:
        return _mark_recorded(planned, {record.run_id for _, record in importable(folder, wanted)[0]})
    imported, skipped = import_records(folder, wanted)
    for why in skipped:
        out.print(f"[yellow]not imported, to run again:[/] {escape(why)}", soft_wrap=True)
    if imported:
        out.print(f"imported {len(imported)} records from {folder} into the store", soft_wrap=True)
    return _mark_recorded(planned, set(imported))


def _mark_recorded(planned: list, run_ids: set[str]) -> list:
    import dataclasses

    return [dataclasses.replace(p, recorded=True) if p.run_id in run_ids else p for p in planned]


def _key(cfg) -> str:
    return json.dumps(cfg.to_dict(), sort_keys=True)


def make_executor(args: argparse.Namespace):
    from bench.core.options import parse_options
    from bench.core.plugins import EXECUTORS

    cls = EXECUTORS.get(args.executor)
    options = dict(args.executor_options)
    for flag, key in (("ray_address", "address"), ("parallelism", "parallelism")):
        if getattr(args, flag) is not None:
            options[key] = str(getattr(args, flag))
    return cls(parse_options(cls.Options, options, f"executor {args.executor!r}"))


def grid_overrides(args: argparse.Namespace):
    from bench.harness.sweep import GridOverrides

    return GridOverrides(methods=args.methods, tasks=args.tasks, seeds=args.seeds, attacks=args.attacks,
                         fractions=args.fractions,
                         ks=args.ks, controls=not args.no_controls, run=dict(args.set),
                         method_options=dict(args.method_options), task_options=dict(args.task_options))


def add_parsers(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid of methods × tasks × budgets × seeds with their controls (resumable)")
    p.add_argument("--config", help="sweep TOML file (grid, [run], [tasks.NAME], [methods.NAME], [attacks.NAME]); flags replace its keys")
    p.add_argument("--methods", type=list_of(str), metavar="M1,M2", help="methods to run")
    p.add_argument("--tasks", type=list_of(str), metavar="T1,T2", help="tasks to run")
    p.add_argument("--seeds", type=seed_list, metavar="S1,S2", help="seeds (default 0,1,2)")
    p.add_argument("--attacks", type=list_of(str), metavar="A1,A2",
                   help="attacks every entry meets (default: the run's own, finetune); one unlearning feeds them all")
    p.add_argument("--fractions", type=list_of(float), metavar="F1,F2", help="budgets as fractions of all units")
    p.add_argument("--ks", type=list_of(int), metavar="K1,K2", help="budgets as unit counts")
    p.add_argument("--no-controls", action="store_true", help="do not add the random and none controls")
    p.add_argument("--set", action="append", type=key_value, default=[], metavar="FIELD=VALUE",
                   help="a RunConfig field for every run, e.g. relearn_steps=64 (repeatable)")
    p.add_argument("--method-option", dest="method_options", action="append", type=key_value, default=[],
                   metavar="KEY=VALUE", help="a method option for every run (repeatable)")
    p.add_argument("--task-option", dest="task_options", action="append", type=key_value, default=[],
                   metavar="KEY=VALUE", help="a task option for every run (repeatable)")
    planning = p.add_mutually_exclusive_group()
    planning.add_argument("--dry-run", action="store_true",
                          help="print the plan with each run's estimated time here, and run nothing")
    planning.add_argument("--plan", metavar="FILE", help="write the plan as JSON lines (each run's id, device, whether it is "
                   "recorded, and its config; - for stdout) and run nothing; it loads no weights it has seen before")
    p.add_argument("--executor", default="local", metavar="NAME",
                   help="where the runs execute: local (this process, one after another), ray, slurm")
    p.add_argument("--executor-option", dest="executor_options", action="append", type=key_value, default=[],
                   metavar="KEY=VALUE", help="an executor option, e.g. cpus_per_run=2, partition=gpu, gpus_per_run=1")
    p.add_argument("--ray-address", metavar="ADDR", help="ray: an existing cluster (default: a local Ray instance)")
    p.add_argument("--parallelism", type=int, metavar="N", help="ray, slurm: at most N runs at once")
    p.add_argument("--export", metavar="DIR", help="also write the sweep's validated records under DIR (e.g. leaderboards/records), each as it lands; "
                   "runs recorded there but not in the store are imported, so the sweep resumes from DIR")
    p.add_argument("--recorded-only", action="store_true", help="run nothing: report (and --export) the runs already recorded")
    p.add_argument("--force", action="store_true", help="run again even where a record exists")
    p.set_defaults(func=cmd_sweep)
