"""The attacker matrix on a board's page: a heatmap of entries × attack configurations (what each attack brought
back at its declared budget, the worst case last), and a table with the default attack's and the worst case's
figures side by side, which attack was worst, and what the defender and the attacker spent."""

from __future__ import annotations

import html

from bench.api.controls import BUDGET_FREE_CONTROLS
from bench.results.headline import entry_name
from bench.results.inference import Estimate
from bench.results.matrix import NO_ATTACK, RULE, Cell, Matrix, MatrixRow
from bench.results.spend import defender_seconds, defender_spend

HEADERS = ("worst-case rank", "board rank", "entry", "budget", "removed after the default attack",
           "removed in the worst case", "worst attack (chosen on validation)", "recovered by it",
           "defender vs worst attacker", "matrix cost")


def _estimate(stat: Estimate) -> str:
    return stat.format(3)


def _attacker(row: MatrixRow) -> str:
    worst = row.worst
    if worst is None:
        return "–"
    if worst.attack == NO_ATTACK:
        return "nothing: no admissible attack recovered any of it"
    cell: Cell | None = row.cells.get(worst.attack)
    spent = f"{worst.step} {worst.unit}" if worst.unit != "applications" else "one application"
    examples = f" on {cell.examples:,}" if cell is not None and cell.examples else ""
    seconds = "" if cell is None or cell.seconds is None else f" (the run's {cell.step} {cell.unit}: {cell.seconds:,.0f} s)"
    return f"{spent}{examples}{seconds}"


def _defender(row: MatrixRow) -> str:
    r = row.entry.records[0]
    seconds = defender_seconds(r)
    return defender_spend(r, row.entry.k) + ("" if seconds is None else f", {seconds:,.0f} s")


def row_cells(matrix: Matrix, row: MatrixRow) -> list[str]:
    default = row.cells.get(matrix.default)
    worst = row.worst
    rank = "control" if row.entry.is_control else ("–" if row.rank is None else str(row.rank))
    worst_attack = "–" if worst is None else (worst.attack if worst.attack == NO_ATTACK else
                                              f"{worst.attack}, at {worst.step} {worst.unit}")
    if worst is not None and not worst.test_admissible:
        worst_attack += " (beyond the bound on the test examples)"
    return [rank, "–" if row.entry.rank is None else str(row.entry.rank), row.entry.label,
            "any (ignores it)" if row.entry.method in BUDGET_FREE_CONTROLS else row.entry.budget,
            "–" if default is None else _estimate(default.removed),
            "–" if worst is None else _estimate(worst.removed), worst_attack,
            "–" if worst is None else _estimate(worst.recovered),
            f"{_defender(row)} · {_attacker(row)}", f"{row.seconds:,.0f} s"]


def notes(matrix: Matrix) -> list[str]:
    inadmissible = [f"{row.entry.label} × {attack}" for row in matrix.rows for attack, cell in row.cells.items()
                    if not cell.admissible]
    missing = [f"{row.entry.label} × {attack}" for row in matrix.rows for attack in matrix.attacks
               if attack not in row.cells]
    out = [RULE,
           f"Columns: {len(matrix.attacks)} attack configurations (the default, {matrix.default}, first); each cell is "
           "what the attack recovered at its declared budget (its last checkpoint) on the test examples, mean over "
           "the seeds ± 95%. Worst-case comparisons: "
           f"{matrix.pair_tests} paired test{'s' if matrix.pair_tests != 1 else ''}.",
           "Matrix cost: every record of the row, its unlearning once and every attack with its evaluations (wall "
           "seconds as recorded). Where it went: " + "; ".join(
               f"{_row_label(row)}: " + ", ".join(f"{what} {seconds:,.0f} s" for what, seconds in row.spent.items())
               for row in matrix.rows) + "."]
    if inadmissible:
        out.append("Beyond the attacker's bound at the declared budget (marked × in the heatmap; such a checkpoint "
                   "is never a worst case): " + "; ".join(inadmissible) + ".")
    if missing:
        out.append("Not measured: " + "; ".join(missing) + ".")
    if matrix.left_out:
        out.append("Attacks without a column: " + "; ".join(matrix.left_out) + ".")
    return out


def cells_table(matrix: Matrix) -> list[str]:
    """The heatmap's cells as a table (what it draws, with each interval): recovered at each attack's budget."""
    header = ["entry", *(f"{a} ({_budget(matrix, a)})" for a in matrix.attacks), "worst case"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in matrix.rows:
        cells = []
        for attack in matrix.attacks:
            cell = row.cells.get(attack)
            cells.append("–" if cell is None else _estimate(cell.recovered) + ("" if cell.admissible else " ×"))
        worst = "–" if row.worst is None else _estimate(row.worst.recovered)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in [_row_label(row), *cells, worst]) + " |")
    return lines


def _budget(matrix: Matrix, attack: str) -> str:
    cell = next((r.cells[attack] for r in matrix.rows if attack in r.cells), None)
    if cell is None:
        return "not measured"
    return "one application" if cell.unit == "applications" else f"{cell.step} {cell.unit}"


def _row_label(row: MatrixRow) -> str:
    return entry_name(row.entry)


def markdown(matrix: Matrix, png: str | None) -> list[str]:
    lines = ["### Attacker matrix", ""]
    if png:
        lines += [f"![what each attack recovered, entries × attacks]({png})", "",
                  f"![the attacker's effort: the worst case found so far]({png.replace('-matrix.png', '-effort.png')})", ""]
    lines += ["What each attack recovered at its budget (test examples; × beyond the attacker's bound):", "",
              *cells_table(matrix), ""]
    lines += ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    for row in matrix.rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row_cells(matrix, row)) + " |")
    for note in notes(matrix):
        lines += ["", note]
    return lines + [""]


def html_section(matrix: Matrix, svg: str, effort_svg: str) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row_cells(matrix, row)) + "</tr>"
                   for row in matrix.rows)
    return (f'<h2>Attacker matrix</h2>\n<figure id="matrix">{svg}</figure>\n<figure id="effort">{effort_svg}</figure>\n'
            f'<div style="overflow-x: auto"><table class="board" id="worst-case"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>\n" + "".join(f'<p class="note">{e(n)}</p>' for n in notes(matrix)))


def heatmap_values(matrix: Matrix) -> tuple[list[str], list[str], list[list[float | None]], list[list[bool]]]:
    """(rows, columns, recovered means, admissible) as the heatmap draws them: one column per attack configuration,
    then the worst case."""
    columns = [*matrix.attacks, "worst case"]
    rows, values, admissible = [], [], []
    for row in matrix.rows:
        rows.append(_row_label(row))
        cells = [row.cells.get(a) for a in matrix.attacks]
        values.append([None if c is None else c.recovered.mean for c in cells] +
                      [None if row.worst is None else row.worst.recovered.mean])
        admissible.append([c is None or c.admissible for c in cells] + [True])
    return rows, columns, values, admissible


def plot_matrix(matrix: Matrix, fmt: str) -> bytes:
    """The heatmap: recovered at each attack's declared budget (test examples, mean over seeds), × where the
    attack left the model beyond the attacker's bound, the worst case as the last column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from bench.results.pages import _figure_bytes

    rows, columns, values, admissible = heatmap_values(matrix)
    grid = np.array([[np.nan if v is None else v for v in line] for line in values], dtype=float)
    fig, ax = plt.subplots(figsize=(2.6 + 0.95 * len(columns), 1.6 + 0.42 * len(rows)), dpi=110)
    top = max(0.05, float(np.nanmax(np.abs(grid)))) if np.isfinite(grid).any() else 1.0
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-top, vmax=top, aspect="auto")
    for i, line in enumerate(values):
        for j, value in enumerate(line):
            text = "–" if value is None else f"{value:.2f}" + ("" if admissible[i][j] else " ×")
            dark = value is not None and abs(value) > 0.6 * top
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.axvline(len(columns) - 1.5, color="black", linewidth=1.2)
    ax.set_xticks(range(len(columns)), columns, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_title("recovered at each attack's budget (test examples)\n× beyond the attacker's bound", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    fig.tight_layout()
    return _figure_bytes(fig, fmt)


def plot_effort(matrix: Matrix, fmt: str, board_entries: list | None = None) -> bytes:
    """The attacker-effort curves: the most recovered so far (validation examples, admissible checkpoints) against
    the attack configurations tried, cheapest first, one line per entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from bench.results.colours import board_styles, budget_marker
    from bench.results.pages import _figure_bytes

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=110)
    entries = [row.entry for row in matrix.rows]
    styles = board_styles(board_entries or entries)  # the board's: its other plots give a method this colour
    for row in matrix.rows:
        if not row.effort:
            continue
        style = styles[row.entry.label]
        ax.plot(range(1, len(row.effort) + 1), [best for _, best in row.effort], linestyle=style.linestyle,
                marker=budget_marker(entries, row.entry), markersize=3, color=style.color, label=_row_label(row),
                drawstyle="steps-post")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("attack configurations tried, cheapest first")
    ax.set_ylabel("most recovered so far (validation)")
    ax.set_title("attacker effort: the worst case found as the attacker tries more", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _figure_bytes(fig, fmt)
