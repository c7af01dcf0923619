"""The performance suite (not part of the test run): `python -m pytest benchmarks --benchmark-only`."""
