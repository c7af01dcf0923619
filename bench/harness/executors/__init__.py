"""Where a sweep's runs execute: in this process one after another (`local`), as Ray tasks (`ray`), or as a
Slurm job array through submitit (`slurm`). An executor gets the plan (bench.harness.planning), so every node
runs exactly the config, device and run id the plan fixed, and it reports each run as it finishes. Runs share
one `$BENCH_HOME` (on a cluster, a shared file system): the store's locks make concurrent runs safe.

Third parties add an executor under the `bench.executors` entry point group.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from bench.core.errors import BenchError
from bench.harness.planning import PlannedRun

# What a worker process needs from the driver's environment to find the same store and stay offline. No
# secrets: the arguments of a job are pickled to disk (submitit) or into a runtime environment (Ray); an API
# key reaches a worker through the environment it inherits, as the cluster's own configuration provides.
FORWARDED_ENV = ("BENCH_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME",
                 "HF_HUB_CACHE", "OPENAI_BASE_URL")


@dataclass(frozen=True)
class NoOptions:
    pass


@dataclass
class Result:
    """What a worker reports for one run (the record itself is read from the store)."""

    run_id: str
    status: str  # "ran", "recorded" (another process recorded it first), "failed"
    error: str | None = None
    seconds: float = 0.0


class Executor(ABC):
    """Runs planned runs and yields (position in `runs`, Result) as each one finishes."""

    Options: ClassVar[type] = NoOptions
    description: ClassVar[str] = ""

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def has_gpu(self) -> bool:
        """Whether the runs will execute on GPUs: the plan fixes the device and profile from it."""

    @abstractmethod
    def run(self, runs: Sequence[PlannedRun], *, force: bool = False) -> Iterator[tuple[int, Result]]:
        """Execute `runs`, yielding (position in `runs`, Result) as each one finishes."""


def forwarded_env() -> dict[str, str]:
    from bench.core.paths import bench_home

    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    env["BENCH_HOME"] = str(bench_home())
    env["BENCH_PROGRESS"] = "0"  # workers' bars would interleave; the driver reports each run
    # The driver indexes what its workers record: SQLite's WAL mode is not safe on a file system that several
    # nodes share, so only one process (on one node) writes the index.
    env["BENCH_INDEX"] = "0"
    return env


def execute(raw: dict[str, Any], force: bool = False, threads: int | None = None,
            env: dict[str, str] | None = None) -> Result:
    """Run one planned run in this process: the function a Ray task or a Slurm array job calls. A plain
    function of plain data, so it pickles to any node."""
    os.environ.update(env or {})
    if threads:
        import torch

        torch.set_num_threads(threads)
    from bench.harness.protocol import compute_once
    from bench.harness.resolution import resolve_run

    planned = PlannedRun.from_json(raw)
    start = time.perf_counter()
    try:
        setup = resolve_run(planned.config, device=planned.device, planned_id=planned.run_id)
        _, computed = compute_once(setup, force=force, setup_seconds=time.perf_counter() - start)
    except BenchError as exc:
        return Result(planned.run_id, "failed", str(exc), time.perf_counter() - start)
    return Result(planned.run_id, "ran" if computed else "recorded", None, time.perf_counter() - start)
