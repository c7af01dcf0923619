"""One colour per method on a board, the same in every plot of it: the controls in greys with their own dashes,
the methods (a method with its options, as the board labels it) in the colours of a palette without greys, in
the order of their labels, so two plots of one board never give one method two colours or two methods one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Controls in greys, apart from the methods' colours.
CONTROL_STYLE = {"random": ("0.45", "--"), "none": ("0.1", ":"), "never-learned": ("0.3", "-."),
                 "retain-tuning": ("0.6", (0, (5, 1, 1, 1)))}
# matplotlib's tab10 without its grey (#7f7f7f, which a reader takes for the random control), then tab20's light
# shades of the same hues for boards with more methods than that.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
# A method's budgets on one plot: one colour, told apart by their markers (in budget order).
MARKERS = ("o", "s", "^", "D", "v", "P")


@dataclass(frozen=True)
class Style:
    color: str
    linestyle: Any


def board_styles(entries: Iterable[Any]) -> dict[str, Style]:
    """label -> its style, for every entry of a board (anything with `.method` and `.label`)."""
    entries = list(entries)
    methods = sorted({e.label for e in entries if e.method not in CONTROL_STYLE})
    styles = {label: Style(PALETTE[i % len(PALETTE)], "-") for i, label in enumerate(methods)}
    styles.update({e.label: Style(*CONTROL_STYLE[e.method]) for e in entries if e.method in CONTROL_STYLE})
    return styles


def budget_marker(entries: Iterable[Any], entry: Any) -> str:
    """The entry's marker: its place among its method's budgets on the board, smallest first (anything with
    `.label` and `.budget_size`)."""
    sizes = sorted({e.budget_size for e in entries if e.label == entry.label}, key=lambda x: (x is None, x or 0))
    return MARKERS[sizes.index(entry.budget_size) % len(MARKERS)]
