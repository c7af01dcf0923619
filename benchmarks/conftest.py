"""The performance suite (pytest-benchmark): `python -m pytest benchmarks --benchmark-only`."""

import os

os.environ.setdefault("BENCH_PROGRESS", "0")
