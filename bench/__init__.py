"""relearn-bench: does an unlearned concept stay removed once the model is trained again?

The public face: what a user or a plug-in author needs, importable from `bench` itself. The names load on
first use (PEP 562), so `import bench` and `bench --version` stay cheap (no torch) and no package below
imports this one.

    from bench import RunConfig, run
    record = run(RunConfig(method="concept-neurons", task="ner", fraction=0.01))

The packages, lowest first (a package imports only from those before it; tests/test_layers.py checks):
core (errors, paths, registry, options, files, assets), neurons (architectures, units, masks, activations,
ranking), models (loading, precision, generation, the one training loop), llm (chat and embedding backends), api (the contracts:
data, evaluation, metrics, method, task, record), methods and tasks (the built-in plug-ins), analysis,
harness (config, one run, the store, sweeps), results (statistics, leaderboards, pages, the gate,
reports), cli.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.core.version import __version__

_EXPORTS = {
    "run": "bench.harness.protocol",
    "RunConfig": "bench.harness.config",
    "Method": "bench.api.method",
    "PruningMethod": "bench.api.method",
    "WeightEditingMethod": "bench.api.method",
    "StepBudget": "bench.api.method",
    "ObjectiveRule": "bench.api.method",
    "METHODS": "bench.core.plugins",
    "UnlearningResult": "bench.api.method",
    "UnlearnContext": "bench.api.method",
    "Task": "bench.api.task",
    "TASKS": "bench.core.plugins",
    "MetricSpec": "bench.api.task",
    "Evaluation": "bench.api.evaluation",
    "Statistic": "bench.api.evaluation",
    "Record": "bench.api.record",
    "BenchError": "bench.core.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
