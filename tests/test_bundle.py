"""An offline bundle carries the assets (and wheels) to a machine without registry access, in parts of a
chosen size whose damage is caught before anything is installed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.core import assets
from bench.core.bundle import (
    PartReader,
    PartWriter,
    bundle,
    parse_size,
    read_manifest,
    unbundle,
)
from bench.core.errors import BenchError

SMALL_ASSET = "wnut16"  # a wheel of a few hundred KB


def test_parts_are_cut_at_the_size_and_read_back_as_one_stream(tmp_path):
    data = os.urandom(10_000)
    writer = PartWriter(tmp_path, 4096)
    writer.write(data[:5000])
    writer.write(data[5000:])
    parts = writer.close()
    assert [p.size for p in parts] == [4096, 4096, 1808]
    assert PartReader(tmp_path, parts).read() == data
    assert parse_size("2G") == 2 << 30 and parse_size("64K") == 65536 and parse_size("1000") == 1000
    with pytest.raises(BenchError, match="part size"):
        parse_size("two gigs")


@pytest.fixture
def small_bundle(tmp_path):
    folder = tmp_path / "bundle"
    manifest = bundle(folder, part_size=64 << 10, python_version=None, platform=None, asset_names=[SMALL_ASSET],
                      wheels=False)
    return folder, manifest


def test_a_bundle_installs_its_assets_on_a_machine_that_has_none(small_bundle, tmp_path, monkeypatch):
    folder, manifest = small_bundle
    assert len(manifest.parts) > 1 and manifest.assets == [SMALL_ASSET] and manifest.requirements == []
    assert read_manifest(folder) == manifest
    fresh = tmp_path / "fresh-home"
    monkeypatch.setenv("BENCH_HOME", str(fresh))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/unreachable")  # the registry is out of reach
    unbundle(folder)
    found = assets.locate(assets.find_asset(SMALL_ASSET))
    assert found is not None and fresh in found.parents


def test_a_damaged_or_missing_part_is_named_before_anything_is_installed(small_bundle, tmp_path, monkeypatch):
    folder, manifest = small_bundle
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "fresh-home"))
    second = folder / manifest.parts[1].name
    second.write_bytes(b"x" + second.read_bytes()[1:])
    with pytest.raises(BenchError, match=f"{second.name}: damaged"):
        unbundle(folder)
    second.unlink()
    with pytest.raises(BenchError, match=f"{second.name}: a part of the bundle is missing"):
        unbundle(folder)
    assert not list((tmp_path / "fresh-home").glob("assets/*"))  # nothing was installed
    with pytest.raises(BenchError, match="not empty"):
        bundle(folder, part_size=1 << 20, python_version=None, platform=None, asset_names=[SMALL_ASSET], wheels=False)
    with pytest.raises(BenchError, match="no manifest.json"):
        unbundle(tmp_path)


def test_the_unbundling_starts_from_relearn_benchs_own_wheel_with_the_standard_library_only(tmp_path):
    """The machine offline has nothing installed: the bundle carries relearn-bench's wheel beside its parts, and
    `python -m bench.core.bundle` runs from that wheel alone (no torch, rich or filelock on the path)."""
    folder = tmp_path / "bundle"
    bundle(folder, part_size=1 << 20, python_version=None, platform=None, asset_names=[SMALL_ASSET], wheels=True,
           pip_args=["--no-deps"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["requirements"] == ["relearn-bench"]
    (wheel,) = folder.glob("relearn_bench-*.whl")
    fresh = tmp_path / "fresh-home"
    result = subprocess.run([sys.executable, "-S", "-m", "bench.core.bundle", str(folder), "--no-wheels"],
                            env={"PYTHONPATH": str(wheel), "BENCH_HOME": str(fresh), "PATH": os.environ["PATH"]},
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "installed 1 offline assets" in result.stdout
    assert any(Path(fresh, "assets").iterdir())
