"""A method keeps one colour across every plot of a board, and no method is drawn in a control's grey (tab10's
grey once gave `simnpo` the colour of the `random` control)."""

from __future__ import annotations

import re

from bench.results.colours import CONTROL_STYLE, PALETTE, board_styles
from bench.results.leaderboard import build_boards
from bench.results.pages import plot_budgets, plot_curves
from tests.made_records import made_record

CURVE = (0.2, 0.4, 0.6, 0.7)
METHODS = [f"method-{letter}" for letter in "abcdefghi"]  # nine: tab10's grey would be the eighth


def board():
    records = [made_record(method, seed, relearn=CURVE, unlearned=0.2 + 0.01 * i if method not in CONTROL_STYLE else 0.2)
               for i, method in enumerate(["none", "random", *METHODS]) for seed in range(2)]
    (b,) = build_boards(records)
    return b


def colours_in(svg: bytes) -> set[str]:
    return {c.lower() for c in re.findall(rb"stroke: (#[0-9a-fA-F]{6})", svg) for c in [c.decode()]}


def test_every_method_has_its_own_colour_and_none_is_a_controls_grey():
    b = board()
    styles = board_styles(b.entries)
    methods = [styles[e.label].color for e in b.entries if e.method in METHODS]
    assert len(set(methods)) == len(METHODS) and set(methods) <= set(PALETTE)
    assert styles["random"].color == CONTROL_STYLE["random"][0] and "#7f7f7f" not in methods
    # The assignment follows the labels, not the order the entries come in.
    assert board_styles(reversed(b.entries)) == styles


def test_both_plots_of_a_board_draw_each_method_in_its_colour():
    b = board()
    styles = board_styles(b.entries)
    curves, budgets = colours_in(plot_curves(b, "svg")), colours_in(plot_budgets(b, "svg"))
    for method in METHODS:
        assert styles[method].color in curves and styles[method].color in budgets, method
    assert "#7f7f7f" not in curves | budgets
