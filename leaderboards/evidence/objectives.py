"""Does a weight-editing method reach its own objective on a task's real data? Unlearn once per configuration with
the harness's own setup (the task's model, preparation and forget/retain data; no evaluation) and print the
objective's terms at the start and the end, as the record keeps them (`method.info.objective`).

    python leaderboards/evidence/objectives.py rmu toxicity '{}' '{"lr": 1e-3}'
    python leaderboards/evidence/objectives.py simnpo cbt '{}'

One JSON line per configuration: the options, the seconds, what the method reported, and the trajectory. Seed 0,
the default profile of the machine. The issue-37 closing note's RMU and SimNPO tables came from it.
"""

from __future__ import annotations

import copy
import json
import sys
import time

from bench.core.options import parse_options
from bench.core.plugins import METHODS
from bench.harness.caches import prepare
from bench.harness.config import build_config
from bench.harness.protocol import unlearn_context
from bench.harness.resolution import resolve_run, seed_everything
from bench.neurons.units import unit_space


def main(method_name: str, task: str, *grid: str) -> None:
    cfg = build_config({"method": method_name, "task": task, "seed": 0})
    setup = resolve_run(cfg)
    base, preparation = prepare(setup)
    base.to(setup.device).eval()
    cls = METHODS.get(method_name)
    for raw in grid or ("{}",):
        options = json.loads(raw)
        model = copy.deepcopy(base)
        seed_everything(cfg.seed)
        ctx = unlearn_context(setup, unit_space(model, cfg.unit_space), None, preparation)
        method = cls(parse_options(cls.Options, {k: str(v) for k, v in options.items()}, method_name))
        start = time.perf_counter()
        info = dict(method.unlearn(model, ctx).info)
        objective = info.pop("objective")
        print(json.dumps({"options": options, "seconds": round(time.perf_counter() - start), "info": info,
                          "start": objective["start"], "end": objective["end"], "reached": objective["reached"]}),
              flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
