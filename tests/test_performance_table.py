"""The README's performance section is generated from the committed ratio tables, and the ratios are what
their names say (project rate ÷ bare-loop rate; executed FLOP/s ÷ the measured matmul rate)."""

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import ratios

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


performance_table = _load("performance_table", ROOT / "tools" / "performance_table.py")


def stats(seconds: float):
    return SimpleNamespace(min=seconds, median=seconds * 1.1)


def test_ratio_is_the_project_rate_over_the_bare_rate_and_the_share_uses_the_fastest_round():
    table = ratios.RatioTable("cpu-test", {"float32": 100e9})
    table.add("eval", "questions", 10, "project", stats(2.0), flops=100e9)
    table.add("eval", "questions", 10, "bare", stats(8.0), flops=400e9, why="shared cache")
    (row,) = table.rows()
    assert row["project_per_s"] == 5.0 and row["bare_per_s"] == 1.25 and row["ratio"] == 4.0
    assert row["meets_target"] is True and row["why"] == "shared cache"
    assert row["project_share_of_peak"] == 0.5 and row["bare_share_of_peak"] == 0.5


def test_a_path_slower_than_its_bare_loop_misses_the_target_and_uncounted_flops_give_no_share():
    table = ratios.RatioTable("cpu-test", {"float32": 100e9})
    table.add("scorer", "texts", 100, "project", stats(1.0), flops=0)
    table.add("scorer", "texts", 100, "bare", stats(0.9), flops=0)
    (row,) = table.rows()
    assert row["ratio"] == pytest.approx(0.9) and row["meets_target"] is False
    assert row["project_share_of_peak"] is None
    assert any("< target" in line for line in table.lines())


def test_the_readme_section_is_generated_from_the_committed_results():
    results = [json.loads(p.read_text()) for p in sorted((ROOT / "benchmarks" / "results").glob("*.json"))
               if not p.name.endswith(".partial.json")]
    assert results, "no committed performance results"
    readme = (ROOT / "README.md").read_text()
    assert performance_table.render(readme, results) == readme, "run: python tools/performance_table.py"
