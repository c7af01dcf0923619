"""A Slurm job array through submitit, one array task per run, at most `parallelism` running at once.

`cluster = "local"` runs the same jobs as processes on this machine through submitit's local executor (how
the tests exercise this path without a Slurm installation). Jobs share the driver's `$BENCH_HOME`, which
must be on a file system every node mounts; submitit's own files go to `folder`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bench.core.errors import BenchError
from bench.core.plugins import EXECUTORS
from bench.harness.executors import Executor, Result, execute, forwarded_env
from bench.harness.planning import PlannedRun


@dataclass(frozen=True)
class SlurmOptions:
    cluster: str = "slurm"  # "slurm"; "local" or "debug": submitit's executors on this machine
    partition: str | None = None
    gpus_per_run: int = 0  # with GPUs the plan fixes device cuda and the paper profile
    cpus_per_run: int = 2
    mem_gb: int | None = None
    timeout_min: int = 24 * 60
    parallelism: int = 16  # array tasks running at once
    folder: str | None = None  # submitit's logs and pickles (default: $BENCH_HOME/slurm)


@EXECUTORS.register("slurm")
class SlurmExecutor(Executor):
    """a Slurm job array through submitit, capped at --parallelism runs at once"""

    Options = SlurmOptions
    description = "a Slurm job array through submitit, capped at `parallelism` runs at once"

    def has_gpu(self) -> bool:
        return self.options.gpus_per_run > 0

    def _executor(self):
        try:
            import submitit
        except ImportError:
            raise BenchError("the slurm executor needs submitit: pip install 'relearn-bench[slurm]'") from None
        from bench.core.paths import subdir

        o = self.options
        # The cluster is named, never auto-detected: without Slurm's tools submitit would quietly pick its local
        # executor and start every run at once on this machine.
        try:
            executor = submitit.AutoExecutor(folder=o.folder or subdir("slurm"), cluster=o.cluster)
        except Exception as exc:  # submitit says which clusters it can reach
            raise BenchError(f"the slurm executor cannot use cluster {o.cluster!r}: {exc}") from None
        if executor.cluster != o.cluster:
            raise BenchError(f"the slurm executor asked for cluster {o.cluster!r} but submitit gave {executor.cluster!r}")
        parameters = {"timeout_min": o.timeout_min, "cpus_per_task": o.cpus_per_run, "gpus_per_node": o.gpus_per_run,
                      "tasks_per_node": 1, "nodes": 1, "slurm_array_parallelism": o.parallelism,
                      "name": "relearn-bench"}
        if o.partition:
            parameters["slurm_partition"] = o.partition
        if o.mem_gb:
            parameters["mem_gb"] = o.mem_gb
        executor.update_parameters(**parameters)
        return executor

    def run(self, runs: Sequence[PlannedRun], *, force: bool = False) -> Iterator[tuple[int, Result]]:
        import submitit

        if not runs:
            return
        executor, env = self._executor(), forwarded_env()
        threads = None if self.has_gpu() else self.options.cpus_per_run
        # Slurm enforces the array's parallelism itself; the local executors would start every job at once,
        # so there the array goes in waves of `parallelism`.
        wave = len(runs) if self.options.cluster == "slurm" else max(1, self.options.parallelism)
        for first in range(0, len(runs), wave):
            chunk = list(runs[first:first + wave])
            jobs = executor.map_array(execute, [r.to_json() for r in chunk], [force] * len(chunk),
                                      [threads] * len(chunk), [env] * len(chunk))
            for offset, job in _as_completed(jobs):
                try:
                    yield first + offset, job.result()
                except (submitit.core.utils.FailedJobError, submitit.core.utils.UncompletedJobError) as exc:
                    yield first + offset, Result(chunk[offset].run_id, "failed", f"job {job.job_id} failed: {exc}")


def _as_completed(jobs) -> Iterator[tuple[int, object]]:
    import time

    left = dict(enumerate(jobs))
    while left:
        finished = [i for i, job in left.items() if job.done()]
        for i in finished:
            yield i, left.pop(i)
        if left and not finished:
            time.sleep(1.0)
