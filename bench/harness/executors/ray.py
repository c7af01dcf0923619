"""Each run a Ray task, on a local Ray instance or an existing cluster.

On a cluster with GPUs each run takes one GPU (and the plan fixes device `cuda` and the `paper` profile);
otherwise each takes `cpus_per_run` CPU slots and as many torch threads. Workers share the driver's
`$BENCH_HOME`, which on a multi-node cluster must be a shared file system.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bench.core.errors import BenchError
from bench.core.plugins import EXECUTORS
from bench.harness.executors import Executor, Result, execute, forwarded_env
from bench.harness.planning import PlannedRun


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # an existing cluster ("auto", "ray://head:10001"); default: a local instance
    num_cpus: int | None = None  # the local instance's CPU slots (default: every core)
    cpus_per_run: int = 1  # CPU slots (and torch threads) per run without GPUs
    parallelism: int | None = None  # at most this many runs at once (default: as many as the slots hold)


def _ray():
    try:
        import ray
    except ImportError:
        raise BenchError("the ray executor needs Ray: pip install 'relearn-bench[ray]'") from None
    return ray


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """each run a Ray task (one GPU each where there are GPUs), locally or on a cluster (--ray-address)"""

    Options = RayOptions
    description = "each run a Ray task (one GPU each where there are GPUs), locally or on a cluster"

    def _connect(self):
        ray = _ray()
        if not ray.is_initialized():
            local = self.options.address is None
            ray.init(address=self.options.address, num_cpus=self.options.num_cpus if local else None,
                     include_dashboard=False, log_to_driver=True,
                     runtime_env={"env_vars": forwarded_env()})
        return ray

    def has_gpu(self) -> bool:
        return self._connect().cluster_resources().get("GPU", 0) >= 1

    def run(self, runs: Sequence[PlannedRun], *, force: bool = False) -> Iterator[tuple[int, Result]]:
        ray = self._connect()
        gpu = self.has_gpu()
        threads = None if gpu else self.options.cpus_per_run
        task = ray.remote(execute).options(num_gpus=1 if gpu else 0, num_cpus=1 if gpu else self.options.cpus_per_run,
                                           max_retries=0)
        limit = self.options.parallelism or len(runs)
        queue, pending = list(enumerate(runs)), {}
        while queue or pending:
            while queue and len(pending) < limit:
                position, planned = queue.pop(0)
                pending[task.remote(planned.to_json(), force, threads, forwarded_env())] = position
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                position = pending.pop(ref)
                try:
                    yield position, ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died (out of memory, node lost)
                    yield position, Result(runs[position].run_id, "failed", f"Ray task failed: {exc}")

    def close(self) -> None:
        ray = _ray()
        if ray.is_initialized() and self.options.address is None:
            ray.shutdown()
