"""The performance suite (pytest-benchmark): `python -m pytest benchmarks --benchmark-only`.

`test_hot_paths.py` measures every hot path as a ratio to a bare loop and to the machine's matmul rate,
measured in the same run (the `ratios` fixture); at the end the table is printed and written to
`benchmarks/results/<device>.json`.
"""

import os

import pytest
import torch

from benchmarks import ratios as ratio_tools

os.environ.setdefault("BENCH_PROGRESS", "0")

_TABLE: ratio_tools.RatioTable | None = None
_PARTIAL = False  # some hot paths were deselected (-k, -m): the table is not the whole suite's


def pytest_deselected(items) -> None:
    global _PARTIAL
    _PARTIAL = _PARTIAL or any(item.path.name == "test_hot_paths.py" for item in items)


def device_name() -> str:
    if torch.cuda.is_available():
        return "cuda-" + torch.cuda.get_device_name().lower().replace(" ", "-")
    return f"cpu-{torch.get_num_threads()}-threads"


@pytest.fixture(scope="session")
def ratios() -> ratio_tools.RatioTable:
    global _TABLE
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    peak = {"float32": ratio_tools.matmul_rate(device, torch.float32)}
    if device.type == "cuda":
        peak["bfloat16"] = ratio_tools.matmul_rate(device, torch.bfloat16)
    _TABLE = ratio_tools.RatioTable(device_name(), peak, "bfloat16" if device.type == "cuda" else "float32")
    return _TABLE


def pytest_terminal_summary(terminalreporter) -> None:
    if _TABLE is None or not _TABLE.paths:
        return
    # A partial run must not replace the table the README is generated from (it is measured in one run).
    path = _TABLE.write(name=f"{_TABLE.device}.partial" if _PARTIAL else _TABLE.device)
    terminalreporter.write_sep("=", "hot paths: project ÷ bare loop, share of the measured matmul rate")
    for line in _TABLE.lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"written to {path}")
