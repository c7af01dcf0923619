"""`bench frontier`: tune a method over its grid on validation examples, report every configuration on test ones."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.arguments import add_run_flags, config_from_args, key_value, list_of, out
from bench.core.errors import BenchError


def parse_axes(method: str, raw: list[tuple[str, str]]) -> dict[str, tuple[Any, ...]]:
    """`--grid lr=1e-5,1e-4` → {"lr": (1e-5, 1e-4)}, each value typed as the method's option is."""
    import dataclasses
    import typing

    from bench.core.options import coerce
    from bench.core.plugins import METHODS

    cls = METHODS.get(method)
    fields = {f.name for f in dataclasses.fields(cls.Options)} if dataclasses.is_dataclass(cls.Options) else set()
    hints = typing.get_type_hints(cls.Options) if fields else {}
    axes = {}
    for name, values in raw:
        if name not in fields:
            raise BenchError(f"method {method!r} has no option {name!r} to tune; its options: "
                             f"{', '.join(sorted(fields)) or '(none)'}")
        if name == "steps":
            raise BenchError("steps is the frontier's own axis (log-spaced up to the grid's epochs; --max-steps caps it)")
        axes[name] = tuple(coerce(v.strip(), hints[name], f"--grid {name}") for v in values.split(",") if v.strip())
    return axes


def cmd_frontier(args: argparse.Namespace) -> int:
    from bench.harness.frontier import grid_of, run_frontier
    from bench.results.frontier import frontier_report, write_frontier

    cfg = config_from_args(args)
    grid = grid_of(cfg.method, parse_axes(cfg.method, args.grid), args.fractions)
    report = frontier_report(run_frontier(cfg, grid, args.max_steps, args.steps_per_octave))
    folder = Path(args.out) if args.out else Path("frontiers") / f"{cfg.task}-{cfg.method}-seed{cfg.seed}"
    page = write_frontier(report, folder)
    chosen = report["chosen"]
    if chosen is None:
        out.print("[yellow]no configuration is eligible[/] (each missed its objective or the collateral bound)")
    else:
        point = report["points"][chosen]
        out.print(f"chosen on the validation examples: [bold]{point['name']}[/]; on the test examples forgetting "
                  f"{point['test']['forgetting']:.3f}, collateral {point['test']['collateral']:.3f}")
    out.print(f"frontier: {page}", soft_wrap=True)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("frontier", help="tune a method over its grid: chosen on validation examples, reported on test ones")
    add_run_flags(p)
    p.add_argument("--grid", action="append", type=key_value, default=[], metavar="OPTION=V1,V2",
                   help="replace one axis of the method's declared grid (repeatable), e.g. --grid lr=1e-5,1e-4")
    p.add_argument("--fractions", type=list_of(float), default=None, metavar="F1,F2",
                   help="a pruning method's budgets, replacing its grid's")
    p.add_argument("--max-steps", type=int, default=None, metavar="N",
                   help="cap the longest unlearning (the grid's epochs of the forget data otherwise)")
    p.add_argument("--steps-per-octave", type=int, default=1, metavar="N",
                   help="evaluate a weight-editing method N times per doubling of its steps (default 1: 4, 8, 16, ...)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where frontier.json, frontier.png and README.md go (default frontiers/TASK-METHOD-seedS)")
    p.set_defaults(func=cmd_frontier)
