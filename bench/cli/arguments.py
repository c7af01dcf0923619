"""What the commands share: the console they print to, and argument types and flag sets."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from rich.console import Console

out = Console()


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip().replace("-", "_"), value.strip()


def seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    return seeds


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field, so the CLI and the config can never disagree."""
    from bench.harness.config import RunConfig

    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        if f.name in ("method_options", "task_options", "attack_options"):
            continue
        choices = typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name]) is typing.Literal else None
        if choices is None and typing.get_origin(hints[f.name]) in (typing.Union, getattr(typing, "UnionType", ())):
            inner = [a for a in typing.get_args(hints[f.name]) if a is not type(None)]
            if inner and typing.get_origin(inner[0]) is typing.Literal:
                choices = typing.get_args(inner[0])
        if hints[f.name] is bool:
            parser.add_argument(flag(f.name), dest=f.name, default=argparse.SUPPRESS,
                                action=argparse.BooleanOptionalAction, help=f.metadata.get("help", ""))
            continue
        kinds = {t for t in (hints[f.name], *typing.get_args(hints[f.name])) if t in (int, float)}
        metavar = None if choices else "N" if int in kinds else "X" if float in kinds else "VALUE"
        parser.add_argument(flag(f.name), dest=f.name, default=argparse.SUPPRESS, choices=choices,
                            metavar=metavar, help=f.metadata.get("help", ""))
    parser.add_argument("--method-option", dest="method_options", action="append", type=key_value, default=[],
                        metavar="KEY=VALUE", help="a method option (repeatable)")
    parser.add_argument("--task-option", dest="task_options", action="append", type=key_value, default=[],
                        metavar="KEY=VALUE", help="a task option (repeatable)")
    parser.add_argument("--attack-option", dest="attack_options", action="append", type=key_value, default=[],
                        metavar="KEY=VALUE", help="an attack option (repeatable)")
    parser.add_argument("--samples", type=int, default=None, metavar="N",
                        help="completions sampled per evaluation (toxicity; short for --task-option samples=N)")
    parser.add_argument("--config", help="TOML file with RunConfig fields (flags override it)")
    parser.add_argument("--force", action="store_true", help="run again even if this exact run is recorded")
    parser.add_argument("--seeds", type=seed_list, default=None, metavar="S1,S2,...",
                        help="run once per seed and report mean ± SD per stage (instead of --seed)")


def config_from_args(args: argparse.Namespace):
    """The RunConfig that `add_run_flags`' flags and `--config` describe (flags override the file)."""
    import torch

    from bench.harness.config import RunConfig, build_config, read_config_file

    fields = {f.name for f in dataclasses.fields(RunConfig)}
    cli_values: dict[str, Any] = {k: v for k, v in vars(args).items() if k in fields}
    for name in ("method_options", "task_options", "attack_options"):
        cli_values[name] = dict(getattr(args, name))
    if args.samples is not None:
        cli_values["task_options"]["samples"] = args.samples
    file_values = read_config_file(args.config) if args.config else {}
    return build_config(file_values, cli_values, has_gpu=torch.cuda.is_available())


def list_of(kind: type) -> Any:
    def parse(text: str) -> list:
        try:
            values = [kind(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError("expected at least one value")
        return values
    return parse
