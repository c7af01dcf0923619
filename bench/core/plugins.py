"""Every kind of plug-in, in one table: its registry, the entry-point group third parties publish under,
and the package whose modules hold the built-ins. A module that implements a kind imports its registry from
here (so `bench list` reads all of them through this one module), and the built-ins load on first lookup.

    kind                entry-point group       built-ins
    method              bench.methods           bench.methods
    task                bench.tasks             bench.tasks
    toxicity scorer     bench.scorers           bench.tasks.scorers
    explainer backend   bench.explainers        bench.methods.snip
    chat backend        bench.chat_backends     bench.llm
    embedder            bench.embedders         bench.llm
    sweep executor      bench.executors         bench.harness.executors
    relearning attack   bench.attacks           bench.attacks
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.core.registry import Registry

if TYPE_CHECKING:  # the base classes live with their kinds; only a type checker needs them here
    from bench.api.attack import Attack
    from bench.api.method import Method
    from bench.api.task import Task
    from bench.harness.executors import Executor
    from bench.llm.chat import ChatModel
    from bench.llm.embedders import Embedder
    from bench.methods.snip.explainers import Explainer
    from bench.tasks.scorers import ToxicityScorer

METHODS: Registry[type[Method]] = Registry("method", group="bench.methods", builtin_package="bench.methods")
TASKS: Registry[type[Task]] = Registry("task", group="bench.tasks", builtin_package="bench.tasks")
SCORERS: Registry[type[ToxicityScorer]] = Registry("toxicity scorer", group="bench.scorers",
                                                   builtin_package="bench.tasks.scorers")
EXPLAINERS: Registry[type[Explainer]] = Registry("explainer backend", group="bench.explainers",
                                                 builtin_package="bench.methods.snip")
CHAT_BACKENDS: Registry[type[ChatModel]] = Registry("chat backend", group="bench.chat_backends",
                                                    builtin_package="bench.llm")
EMBEDDERS: Registry[type[Embedder]] = Registry("embedder", group="bench.embedders", builtin_package="bench.llm")

EXECUTORS: Registry[type[Executor]] = Registry("sweep executor", group="bench.executors",
                                               builtin_package="bench.harness.executors")

ATTACKS: Registry[type[Attack]] = Registry("relearning attack", group="bench.attacks", builtin_package="bench.attacks")

REGISTRIES: tuple[Registry, ...] = (METHODS, TASKS, ATTACKS, SCORERS, EXPLAINERS, CHAT_BACKENDS, EMBEDDERS, EXECUTORS)
