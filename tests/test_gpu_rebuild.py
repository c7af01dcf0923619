"""leaderboards/gpu-rebuild.sh runs the whole pinned grid: every task of its sweep files at every seed the grid asks
for, and nothing past its wall-clock limit."""

import os
import subprocess
from pathlib import Path

from bench.harness.sweep import read_sweep_file

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "leaderboards" / "gpu-rebuild.sh"
GRID = (ROOT / "leaderboards" / "sweep.toml", ROOT / "leaderboards" / "defenders-ner.toml")


def test_the_gpu_rebuild_covers_every_task_and_seed_of_the_pinned_grid_and_stops_at_its_limit(tmp_path):
    times = tmp_path / "times.tsv"
    env = {**os.environ, "GPU_REBUILD_SECONDS": "0", "GPU_REBUILD_TIMES": str(times)}
    # A limit of 0 s: no sweep starts, and every part the script would run is listed as not started.
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "records")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in times.read_text().splitlines()[1:]]
    parts = {tuple(part.split()[1:]) for part, status, _ in rows if part != "total"}
    assert all(status == "not started (limit)" for part, status, _ in rows if part != "total")
    specs = {path.name: read_sweep_file(path) for path in GRID}
    wanted = {(str(seed), task, name) for name, spec in specs.items() for task in spec.tasks
              for seed in spec.seeds_of(task)}
    assert parts == wanted
