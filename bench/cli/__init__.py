"""The `bench` command. Each command parses its flags, calls one library function and prints the result;
the commands live in modules by what they act on (one run, sweeps, leaderboards, plug-ins and assets)."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markup import escape

from bench.cli import attack_search, frontier, leaderboards, plugins, run, sweep, verify
from bench.core.errors import BenchError
from bench.core.version import __version__

COMMAND_GROUPS = (run, verify, frontier, attack_search, sweep, leaderboards, plugins)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="relearn-bench: does unlearning survive relearning?")
    parser.add_argument("--version", action="version", version=f"relearn-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
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
