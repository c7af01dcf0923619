"""The default executor: every run in this process, one after another."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bench.core.plugins import EXECUTORS
from bench.harness.executors import Executor, Result, execute
from bench.harness.planning import PlannedRun


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """every run in this process, one after another"""

    description = "every run in this process, one after another"

    def has_gpu(self) -> bool:
        import torch

        return torch.cuda.is_available()

    def run(self, runs: Sequence[PlannedRun], *, force: bool = False) -> Iterator[tuple[int, Result]]:
        for position, planned in enumerate(runs):
            yield position, execute(planned.to_json(), force=force)
