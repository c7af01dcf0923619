"""Does a change leave every output the same? Runs the same commands in a checkout of BEFORE (a git ref)
and in this working tree, and compares what they write:

- the leaderboard pages built from every committed record folder (Markdown, HTML, JSON, PNG): byte for byte;
- a real NER run (concept-neurons, MiniLM) and a real CBT run (random, SmolLM2-135M), short settings, from
  empty caches: their records (without what a rerun changes by nature: creation time, wall times, the git
  commit) and their per-example columns (examples.npz), mask and unit scores, byte for byte.

Only the command line is used, so it works across any restructuring of the modules.

    python tools/same_outputs.py BEFORE_REF        # e.g. main; exit 0 when everything is the same

The offline assets come from $BENCH_HOME (default ~/.cache/relearn-bench): each side gets an empty home that
links to them, so preparation, evaluation and every cache are computed afresh on both sides.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD_FOLDERS = ("leaderboards/records", "leaderboards/archive/2026-12-before-rebuild/records",
                  "leaderboards/evidence/rankers/records",
                  "leaderboards/evidence/snip-family/records", "leaderboards/archive/2026-11-first/records")
RUNS = {
    "ner": ["--task", "ner", "--method", "concept-neurons", "--fraction", "0.01", "--finetune-epochs", "0.5",
            "--relearn-steps", "8", "--relearn-checkpoints", "2,4",
            "--max-eval-examples", "120"],
    "cbt": ["--task", "cbt", "--method", "random", "--fraction", "0.001", "--relearn-steps", "4",
            "--relearn-checkpoints", "2", "--task-option", "eval_per_category=4", "--task-option",
            "retain_per_category=2", "--task-option", "perplexity_documents=2"],
}
SHARED_CACHES = ("assets", "models", "datasets")  # installed or generated once, deterministic: shared read-only
VOLATILE = {"created", "timings"}  # a rerun changes these by nature


def bench(tree: Path, home: Path, *args: str, may_fail: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_HOME": str(home), "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "BENCH_PROGRESS": "0"}
    done = subprocess.run([sys.executable, "-m", "bench", *args], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0 and not may_fail:
        raise SystemExit(f"{tree}: bench {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def without_wall_times(value):
    """Every `seconds` (a stage's evaluation, the preparation) removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_wall_times(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [without_wall_times(v) for v in value]
    return value


def normalised_record(path: Path) -> dict:
    record = json.loads(path.read_text())
    for key in VOLATILE:
        record.pop(key, None)
    record["provenance"].pop("git_commit", None)
    return without_wall_times(record)


def safetensors_content(path: Path) -> bytes:
    """Tensors and metadata in a fixed order: the file's header lists the metadata in hash-map order, which
    differs between two processes writing the same mask."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        content = {"metadata": sorted((handle.metadata() or {}).items()),
                   "tensors": {k: handle.get_tensor(k).tobytes().hex() for k in sorted(handle.keys())}}
    return json.dumps(content).encode()


def outputs(tree: Path, work: Path, source_home: Path) -> Path:
    """Run everything in `tree`; return the folder of what it wrote."""
    out, home = work / "out", work / "home"
    home.mkdir(parents=True)
    for name in SHARED_CACHES:
        if (source_home / name).exists():
            (home / name).symlink_to(source_home / name)
    for folder in RECORD_FOLDERS:
        if (ROOT / folder).exists():  # the records of this tree, so both sides read the same files
            pages = out / "pages" / folder
            done = bench(tree, home, "leaderboard", "build", "--records", str(ROOT / folder), "--out", str(pages),
                         may_fail=True)
            if done.returncode != 0:  # a folder that cannot be built must be refused alike, for the same reason
                pages.mkdir(parents=True, exist_ok=True)
                (pages / "refused.txt").write_text(f"exit {done.returncode}\n{done.stderr}")
    for name, args in RUNS.items():
        bench(tree, home, "run", *args)
    for record_path in (home / "runs").glob("*/record.json"):
        record = normalised_record(record_path)
        folder = out / "runs" / record["config"]["task"]
        folder.mkdir(parents=True)
        # In the record's own key order: a change of order is a change of the file.
        (folder / "record.json").write_text(json.dumps(record, indent=1))
        for other in record_path.parent.iterdir():
            if other.suffix == ".npz":
                (folder / other.name).write_bytes(other.read_bytes())
            elif other.suffix == ".safetensors":
                (folder / f"{other.name}.content").write_bytes(safetensors_content(other))
    return out


def differences(before: Path, after: Path) -> list[str]:
    found = []

    def walk(cmp: filecmp.dircmp, prefix: str) -> None:
        found.extend(f"only before: {prefix}{n}" for n in cmp.left_only)
        found.extend(f"only after: {prefix}{n}" for n in cmp.right_only)
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        found.extend(f"differs: {prefix}{n}" for n in mismatch + errors)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(before, after), "")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="git ref to compare this working tree with")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = parser.parse_args()
    source_home = Path(os.environ.get("BENCH_HOME", "~/.cache/relearn-bench")).expanduser()
    work = Path(tempfile.mkdtemp(prefix="same-outputs-"))
    checkout = work / "before-tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(checkout), args.before], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        before = outputs(checkout, work / "before", source_home)
        after = outputs(ROOT, work / "after", source_home)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT, capture_output=True)
    found = differences(before, after)
    files = sum(1 for p in before.rglob("*") if p.is_file())
    print(f"{files} files compared ({work}): " + ("all the same" if not found else f"{len(found)} differ"))
    for line in found:
        print("  " + line)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
