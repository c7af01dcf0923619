"""`bench verify RECORD`: run a record's configuration again from scratch and report, figure by figure, whether the
new run agrees within the record's own intervals (bit-identical columns where the device and threads match); the
report goes beside the record, where the leaderboard marks it verified."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.arguments import out


def cmd_verify(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bench.api.record import verification_path
    from bench.core.files import write_json_atomic
    from bench.harness.store import find
    from bench.results.verify import verification_json, verify

    record = find(args.record)
    path = Path(args.record)
    if path.suffix != ".json":  # a run id: the report goes beside the stored record
        from bench.harness.store import run_folder

        path = run_folder(record.run_id) / "record.json"
    v = verify(record)
    table = Table(title=f"run {v.run_id} again ({v.seconds:,.0f} s)", show_lines=False)
    for column in ("figure", "recorded", "95% interval", "rerun", "agrees"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    shown = v.figures if args.all else v.disagreeing

    def number(x: float | None) -> str:
        return "–" if x is None else f"{x:.6g}"

    for f in shown:
        interval = "–" if f.interval is None else f"[{f.interval[0]:.6g}, {f.interval[1]:.6g}]"
        table.add_row(f.name, number(f.recorded), interval, number(f.rerun), "yes" if f.agrees else "[red]no[/]")
    if shown:
        out.print(table)
    agreed = len(v.figures) - len(v.disagreeing)
    out.print(f"{agreed} of {len(v.figures)} figures within the record's 95% intervals"
              + ("" if args.all or not agreed else " (--all lists them)"))
    if v.bit_identical is None:
        out.print(f"per-example columns: not compared bit for bit ({v.why_not_comparable})")
    else:
        out.print("per-example columns: " + ("bit-identical" if v.bit_identical else "[red]differ[/]"))
    report = Path(args.out) if args.out else verification_path(path)
    write_json_atomic(report, verification_json(v))
    out.print(("[green]verified[/]" if v.agrees else "[red]not verified[/]") + f": {report}", soft_wrap=True)
    return 0 if v.agrees else 1


def add_parsers(sub) -> None:
    p = sub.add_parser("verify", help="run a record's configuration again from scratch and compare, figure by figure")
    p.add_argument("record", help="a record file (e.g. leaderboards/records/ner/.../RUN_ID.json) or a run id in the store")
    p.add_argument("--all", action="store_true", help="list every figure, not only those that disagree")
    p.add_argument("--out", metavar="FILE", help="where the report goes (default: RUN_ID.verification.json beside the record)")
    p.set_defaults(func=cmd_verify)
