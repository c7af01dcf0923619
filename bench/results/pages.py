"""What `bench leaderboard build` writes for each board: a Markdown table (README, pull requests), a
self-contained HTML page (sortable table, relearning curves inline as SVG), a PNG of the curves for the
Markdown, and one JSON file with every per-seed value behind all boards (what `bench check` reads)."""

from __future__ import annotations

import html
import io
import json
import math
import re
import statistics
from pathlib import Path

from bench.api.controls import BUDGET_FREE_CONTROLS, NEVER_LEARNED_CONTROL
from bench.core.errors import BenchError
from bench.core.files import write_json_atomic, write_text_atomic
from bench.results import matrix_pages
from bench.results.colours import board_styles, budget_marker
from bench.results.headline import headline
from bench.results.inference import UNDEFINED, Estimate
from bench.results.leaderboard import (
    RANKING_RULE,
    UNDEFINED_NOTE,
    Board,
    Column,
    Entry,
    leaderboard_json,
)
from bench.results.spend import attacker_seconds, defender_seconds, defender_spend


def columns(board: Board) -> list[tuple[str, Column | None]]:
    """The columns of a board's table, in order: (header, figure or None for a descriptive column)."""
    return [("rank", None), ("method", None), *[(f.label, f) for f in board.figures()],
            ("model", None), ("budget", None), ("defender vs attacker", None), ("seeds", None), ("records", None)]



def cell(stat: Estimate, seeds: int, digits: int = 3) -> str:
    # A mean over fewer seeds than the entry has (the others undefined) must say so: it is not comparable
    # with a mean over all of them. Seeds whose runs were identical are one replicate, and the cell says so.
    text = stat.format(digits)
    if stat.mean is None:
        return text
    if stat.seeds not in (0, seeds):
        return f"{text} ({stat.seeds}/{seeds} defined)"
    return f"{text} (1 replicate)" if stat.replicates == 1 and seeds > 1 and stat.note is None else text


def budget_cell(entry: Entry) -> str:
    """The budget and what was pruned; an entry that pruned fewer units than its budget says so."""
    if entry.short_of_budget:
        return f"{entry.budget} (pruned only {entry.k} of {entry.k_requested}: ranked no more; of {entry.total_units})"
    return entry.budget if entry.k is None else f"{entry.budget} ({entry.k}/{entry.total_units})"


ABLATION_NOTE = ("Rows marked (ablation: no LLM) are ablations of SNIP, not the paper's method: their "
                 "explanations are each unit's highest-activating tokens (the hats backend) instead of an LLM's "
                 "sentence. The paper's SNIP (an LLM explains every unit) is `--profile paper`, or "
                 "`--method-option explain_top=0` with backend local or openai.")


def seed_varies(board: Board) -> str:
    """What the records' seeds varied, with the methods whose records say so (methods differ: a random draw)."""
    methods: dict[str, list[str]] = {}
    for e in board.entries:
        for r in e.records:
            varied = ", ".join(r.provenance.seed_varies or ["not recorded"])
            if e.method not in methods.setdefault(varied, []):
                methods[varied].append(e.method)
    if len(methods) == 1:
        return next(iter(methods))
    return "; ".join(f"{', '.join(names)}: {varied}" for varied, names in sorted(methods.items()))


def interval_note(board: Board) -> str:
    """What each column's intervals cover, with the entries that differ from the column's usual case (an
    entry that is one replicate, an exact interval, a cell of no change)."""
    parts = []
    for figure in board.figures():
        if figure.cell is not None:
            continue
        hows: dict[str, list[str]] = {}
        for e in board.entries:
            s = e.stats.get(figure.name)
            if s is not None and s.mean is not None and s.how:
                hows.setdefault(s.how, []).append(f"{e.label} at {e.budget}" if not e.is_control else e.label)
        if not hows:
            continue
        usual = max(hows, key=lambda how: len(hows[how]))
        others = "; ".join(f"{how}: {', '.join(names)}" for how, names in hows.items() if how != usual)
        parts.append(f"{figure.label}: {usual}" + (f" ({others})" if others else ""))
    return ("What each interval covers (95%; seeds: the spread of the seeds whose runs differ, Student's t; "
            "examples: the joint bootstrap of the evaluation examples; exact: McNemar and Clopper–Pearson): "
            + "; ".join(parts) + ".")


def rank_comparisons(board: Board) -> str | None:
    """Each ranked entry against its group's leader: the paired difference of their scores and its
    Holm-adjusted p-value, the test its rank follows from."""
    ranked = board.ranked()
    if len(ranked) < 2:
        return None
    parts, leader = [], ranked[0]
    for e in ranked[1:]:
        if e.rank != leader.rank and e.leader_p is not None and e.leader_p < 0.05:
            verdict = "separated: a new group"
        else:
            verdict = "not separated: the same group"
        p = "–" if e.leader_p is None else f"{e.leader_p:.2g}"
        parts.append(f"{e.label} at {e.budget} against {leader.label}: score {e.stats['score'].mean - leader.stats['score'].mean:+.3f}, "
                     f"Holm-adjusted p = {p} ({verdict})")
        if e.rank != leader.rank:
            leader = e
    return "Rank groups (each ranked entry against its group's leader, paired at each seed): " + "; ".join(parts) + "."


def board_notes(board: Board) -> list[str]:
    """What a reader must know to read this board's rows, beyond the ranking rule."""
    notes = [board.rule(),
             f"Power: {board.power.text() if board.power else 'not estimated'}.",
             f"Resolution: {board.resolution()}.",
             "Collateral bounds: " + ", ".join(f"{family} {bound:g}" for family, bound in board.bounds.items()) +
             " (relative drop of an accuracy or F1; relative rise of the mean token NLL).",
             board.attacker_bound(),
             "Forgetting resolved above 0 at a seed (a one-sided test at 2.5%: exact McNemar for an accuracy, else "
             "the bootstrap's error; it decides where r(t) is defined) in: " + "; ".join(
                 f"{e.label} at {e.budget}: {e.resolved}/{len(e.records)} seeds" for e in board.entries
                 if not e.is_control) + ".",
             "What a seed varies: " + seed_varies(board) + ".",
             interval_note(board)]
    if board.examples == "test":
        notes.insert(0, "Examples: every figure is computed on the test part of each evaluation sample, two thirds of "
                        "it; the other third chose each method's configuration (`bench frontier`) and is not reported.")
    if board.left_out:
        notes.insert(0, board.left_out)
    if any("(ablation: no LLM)" in e.label for e in board.entries):
        notes.append(ABLATION_NOTE)
    never = never_learned_note(board)
    if never:
        notes.append(never)
    reads = relearning_note(board)
    if reads:
        notes.insert(0, reads)
    groups = rank_comparisons(board)
    if groups:
        notes.append(groups)
    verified = [r for e in board.entries for r in e.records if r.verified is not None]
    if verified:
        failed = [r.run_id[:8] for r in verified if not r.verified]
        notes.append(f"Verified ({VERIFIED_MARK} after a record): `bench verify` ran {len(verified)} of the board's "
                     "records again from scratch, and every figure of the marked ones agreed within the record's 95% "
                     "interval" + (f"; it did not for {', '.join(failed)}" if failed else "") + ".")
    short = [e for e in board.entries if e.short_of_budget]
    if short:
        notes.append("Pruned fewer units than the budget: " + "; ".join(
            f"{e.label} pruned {e.k} of {e.k_requested} (it ranked no more units)" for e in short) +
            ". The harness never fills a budget with an order the method did not give.")
    return notes


def _task_class(name: str):
    from bench.core.errors import BenchError
    from bench.core.plugins import TASKS

    try:
        return TASKS.get(name)
    except BenchError:  # records of a task no longer installed: nothing to say about it
        return None


def relearning_note(board: Board) -> str | None:
    """What the attack's recovery means on this board's task, where the task says it reads differently."""
    task = _task_class(board.task)
    reads = getattr(task, "relearning_reads", None)
    return None if not reads else f"What relearning means here: {reads}."


def never_learned_note(board: Board) -> str | None:
    """Why the board has no never-learned control, where its task cannot have one."""
    task = _task_class(board.task)
    if task is None:
        return None
    if not task.has_never_learned_control():
        return f"No never-learned control on this task: {task.never_learned_impossible}."
    if any(e.method == NEVER_LEARNED_CONTROL for e in board.entries):
        return ("The never-learned control starts from a model without the concept: its score, resistance vs base "
                "and attack moved, each relative to that base, are undefined (–). Its curve is what the anamnesis "
                "index measures against: the steps it needs to reach 90% of an entry's base level (first checkpoint "
                "at or above it; censored at the attack's end), against the steps the entry needs to regain it.")
    return None


VERIFIED_MARK = "✓"  # after a record's id: `bench verify` ran it again and every figure agreed


def row_cells(board: Board, entry: Entry) -> list[tuple[str, float | str | None]]:
    """(text, sort value) for every column of one entry."""
    rank = str(entry.rank) if entry.rank is not None else ("control" if entry.is_control else "–")
    cells: list[tuple[str, float | str | None]] = [(rank, entry.rank), (entry.label, entry.label)]
    for f in board.figures():
        if f.cell is not None:
            cells.append(f.cell(entry))
            continue
        s = entry.stats.get(f.name, UNDEFINED)
        cells.append((cell(s, len(entry.records)), s.mean))
    budget = "any (ignores it)" if entry.method in BUDGET_FREE_CONTROLS else budget_cell(entry)
    cells += [(entry.model, entry.model), (budget, entry.budget_size), cost_cell(entry),
              (", ".join(map(str, entry.seeds)), len(entry.seeds)),
              (" ".join(r.run_id[:8] + VERIFIED_MARK * bool(r.verified) for r in entry.records), None)]
    return cells


def _median_of(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _spend(what: str, seconds: float | None) -> str:
    return what + ("" if seconds is None else f", {seconds:,.0f} s")


def cost_cell(entry: Entry) -> tuple[str, float | None]:
    """What the defender spent beside what the attacker spent, from the records: optimizer steps × learning rate
    (or the units pruned) and the examples each trained on, and the median wall seconds over the seeds (the
    unlearning's own, where a run loaded a kept unlearned model; the attack's without its evaluations). Sorted
    by the defender's seconds."""
    r = entry.records[0]
    defender = defender_spend(r, entry.k)
    attack, unit = r.attack, r.attack.unit
    if unit == "steps":
        lr = attack.info.get("lr", r.config.get("relearn_lr"))
        examples = attack.info.get("examples")
        attacker = f"{r.summary.relearn_steps} × lr {lr:g}" + (f" on {examples:,}" if examples else "")
    else:
        last = max((s.step for s in r.stage("relearn")), default=0)
        attacker = r.attack_label() + (f", {last} {unit}" if unit != "applications" else "")
    seconds = _median_of([defender_seconds(r) for r in entry.records])
    attacking = _median_of([attacker_seconds(r) for r in entry.records])
    return f"{_spend(defender, seconds)} · {_spend(attacker, attacking)}", seconds


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(board: Board, curves_png: str | None = None) -> str:
    cols = columns(board)
    lines = [f"## {board.title()}", ""]
    # What the board shows, in three generated lines, before anything else (then the heatmap).
    lines += [f"- {line}" for line in headline(board)] + [""]
    if board.matrix is not None:
        # The question the board answers first: which entries resist which attacks, and their worst case.
        lines += matrix_pages.markdown(board.matrix, curves_png.replace(".png", "-matrix.png") if curves_png else None)
    lines += [f"Target metric `{board.target}`. {RANKING_RULE}", "", f"Setting: {board.setting()}.", ""]
    lines.append("| " + " | ".join(h for h, _ in cols) + " |")
    lines.append("|" + "|".join("---" if f is None else "---:" for _, f in cols) + "|")
    for entry in board.entries:
        lines.append("| " + " | ".join(_md_escape(text) for text, _ in row_cells(board, entry)) + " |")
    unranked = [e for e in board.unranked()]
    if unranked:
        lines += ["", "Not ranked: " + "; ".join(f"{e.label} at {e.budget} ({e.status.removeprefix('not ranked: ')})"
                                                 for e in unranked) + "."]
    lines += [note for text in board_notes(board) for note in ("", text)]
    lines += ["", UNDEFINED_NOTE]
    if curves_png:
        lines += ["", f"![relearning curves of {board.task}]({curves_png})"]
        lines += ["", f"![forgetting against collateral, every budget]({curves_png.replace('.png', '-budgets.png')})"]
    return "\n".join(lines) + "\n"


def plot_curves(board: Board, fmt: str) -> bytes:
    """Two panels: recovery r(t) against the none control of every entry (mean and 95% band over seeds; only
    defined points are drawn), and the target metric itself, where the `none` control shows relearning alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_r, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    styles = board_styles(board.entries)
    for i, entry in enumerate(board.entries):
        style = styles[entry.label]
        color, style, marker = style.color, style.linestyle, budget_marker(board.entries, entry)
        for ax, curve in ((ax_r, entry.curve), (ax_m, entry.target_curve)):
            points = [(math.log1p(step), s) for step, s in curve if s.mean is not None]
            if not points:
                continue
            xs = [x for x, _ in points]
            # by keyword: a dash pattern (retain-tuning's) is a tuple, which a positional format would read as data
            line, = ax.plot(xs, [s.mean for _, s in points], linestyle=style, marker=marker, markersize=3, color=color,
                            label=entry.label if entry.method in BUDGET_FREE_CONTROLS else f"{entry.label} · {entry.budget}",
                            gid=f"curve-{i}")
            if all(s.low is not None and s.high is not None for _, s in points):
                ax.fill_between(xs, [s.low for _, s in points], [s.high for _, s in points], color=color, alpha=0.12)
    steps = sorted({step for e in board.entries for step, _ in e.target_curve})
    for ax, ylabel in ((ax_r, "recovery r(t)"), (ax_m, board.target)):
        ax.set_xticks([math.log1p(s) for s in steps], [str(s) for s in steps])
        ax.set_xlabel("relearning step (log scale)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ax_r.axhline(0.9, color="0.6", linewidth=0.8, linestyle=":")
    ax_r.set_title("recovery r(t) vs the none control (mean, paired 95%)", fontsize=10)
    ax_m.set_title(f"{board.target} while relearning", fontsize=10)
    handles, labels = ax_m.get_legend_handles_labels()
    columns = min(3, max(1, len(labels)))  # labels carry the budget: three columns fit the figure's width
    rows = math.ceil(len(labels) / columns)
    fig.set_size_inches(11, 4.2 + 0.18 * rows)
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, (0.2 * rows + 0.15) / (4.2 + 0.18 * rows), 1, 1))
    return _figure_bytes(fig, fmt)


def worst_collateral(board: Board, entry: Entry) -> float | None:
    """The largest share of its bound that any retain metric uses (1 = at the bound)."""
    shares = []
    for metric, family in board.retain.items():
        s = entry.stats.get(f"collateral/{metric}")
        if s is None or s.mean is None:
            return None
        shares.append(s.mean / board.bounds[family])
    return max(shares) if shares else None


def plot_budgets(board: Board, fmt: str) -> bytes:
    """Forgetting against collateral (the worst retain metric, as a share of its bound) for every budget of
    every method, with 95% intervals on forgetting; a method's budgets are joined in budget order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    styles = board_styles(board.entries)
    by_label: dict[str, list[Entry]] = {}
    for e in board.entries:
        if e.method not in BUDGET_FREE_CONTROLS:
            by_label.setdefault(e.label, []).append(e)
    for label, entries in sorted(by_label.items()):
        color, style = styles[label].color, styles[label].linestyle
        points = sorted(((worst_collateral(board, e), e.stats["forgetting"], e.budget_size) for e in entries),
                        key=lambda p: p[2])
        points = [(x, f) for x, f, _ in points if x is not None and f.mean is not None]
        if not points:
            continue
        below = [f.mean - f.low if f.low is not None else 0.0 for _, f in points]
        above = [f.high - f.mean if f.high is not None else 0.0 for _, f in points]
        ax.errorbar([x for x, _ in points], [f.mean for _, f in points],
                    yerr=[below, above], linestyle=style, marker="o", markersize=4, color=color,
                    capsize=2, label=label)
    ax.axvline(1.0, color="0.6", linewidth=0.8, linestyle=":")
    ax.axhline(0.0, color="0.8", linewidth=0.8)
    ax.set_xlabel("collateral: worst retain metric as a share of its bound (1 = bound)")
    ax.set_ylabel(f"forgetting of {board.target}")
    ax.set_title("every budget: forgetting against collateral (mean, 95%)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return _figure_bytes(fig, fmt)


def _figure_bytes(fig, fmt: str) -> bytes:
    """The figure's bytes, the same for the same records: no date, and SVG ids from a fixed salt (a page
    rebuilt from the same records is byte-identical)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    with plt.rc_context({"svg.hashsalt": "relearn-bench"}):
        fig.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return buffer.getvalue()


PAGE_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th { cursor: pointer; background: #f4f4f4; position: sticky; top: 0; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
td.text, th.text { text-align: left; }
tr.control td { color: #666; font-style: italic; } tr.unranked td { color: #955; }
.rule { background: #f8f8f0; border-left: 4px solid #cc9; padding: 0.5em 1em; }
.ids { font-family: monospace; font-size: 12px; }
svg { max-width: 100%; height: auto; }
"""

SORT_SCRIPT = """
document.querySelectorAll('table.board').forEach(function (table) {
  var headers = table.querySelectorAll('th');
  headers.forEach(function (th, column) {
    th.addEventListener('click', function () {
      var ascending = th.getAttribute('aria-sort') !== 'ascending';
      headers.forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
        if (x === undefined || x === '') return 1;   // cells without a value go last either way
        if (y === undefined || y === '') return -1;
        var nx = Number(x), ny = Number(y), order;
        order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _value_attr(value: float | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isinf(value):
        return ' data-value="1e308"'
    return f' data-value="{html.escape(str(value))}"'


TEXT_COLUMNS = ("method", "model")


def _th(header: str, figure: Column | None) -> str:
    klass = "text" if header in TEXT_COLUMNS else ""
    help_text = figure.help if figure else ""
    return (f'<th class="{klass}" data-figure="{html.escape(figure.name if figure else header)}" '
            f'title="{html.escape(help_text)}">{html.escape(header)}</th>')


def _bold(text: str) -> str:
    """The headline's **words** as <b> (the lines are Markdown; the page escapes them first)."""
    return re.sub(r"`(.+?)`", r"<code>\1</code>", re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text))


def html_page(board: Board) -> str:
    e = html.escape
    cols = columns(board)
    head = "".join(_th(header, figure) for header, figure in cols)
    rows = []
    for entry in board.entries:
        css = "control" if entry.is_control else ("ranked" if entry.rank is not None else "unranked")
        cells = []
        for (header, _), (text, value) in zip(cols, row_cells(board, entry), strict=True):
            klass = ' class="text"' if header in TEXT_COLUMNS else ' class="ids"' if header == "records" else ""
            title = f' title="{e(" ".join(entry.run_ids))}"' if header == "records" else (
                f' title="{e(entry.status)}"' if header == "rank" else "")
            cells.append(f"<td{klass}{title}{_value_attr(value)}>{e(text)}</td>")
        rows.append(f'<tr class="{css}">{"".join(cells)}</tr>')
    svg = plot_curves(board, "svg").decode()
    svg = svg[svg.index("<svg"):]  # drop the XML prologue: the SVG is inline
    budgets_svg = plot_budgets(board, "svg").decode()
    budgets_svg = budgets_svg[budgets_svg.index("<svg"):]
    notes = "".join(f"<li>{e(x.label)}: {e(x.status)}</li>" for x in board.unranked())
    matrix_html = ""
    if board.matrix is not None:
        matrix_svg = matrix_pages.plot_matrix(board.matrix, "svg").decode()
        effort_svg = matrix_pages.plot_effort(board.matrix, "svg", board.entries).decode()
        matrix_html = matrix_pages.html_section(board.matrix, matrix_svg[matrix_svg.index("<svg"):],
                                                effort_svg[effort_svg.index("<svg"):]) + "\n"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>relearn-bench leaderboard: {e(board.title())}</title>
<style>{PAGE_STYLE}</style></head>
<body>
<h1>relearn-bench: {e(board.title())}</h1>
<ul id="shows">{"".join(f"<li>{_bold(e(line))}</li>" for line in headline(board))}</ul>
<p>Target metric <code>{e(board.target)}</code>. Click a column header to sort; hover a header for its definition.</p>
{matrix_html}<p id="setting">Setting: {e(board.setting())}.</p>
<p class="rule" id="ranking-rule"><b>Ranking rule.</b> {e(RANKING_RULE)}</p>
<div style="overflow-x: auto"><table class="board" id="board"><thead><tr>{head}</tr></thead>
<tbody>{"".join(rows)}</tbody></table></div>
{f"<ul>{notes}</ul>" if notes else ""}
{"".join(f'<p class="note">{e(text)}</p>' for text in board_notes(board))}
<p id="undefined">{e(UNDEFINED_NOTE)}</p>
<h2>Relearning curves</h2>
<figure id="curves">{svg}</figure>
<h2>Budgets</h2>
<figure id="budgets">{budgets_svg}</figure>
<script>{SORT_SCRIPT}</script>
</body></html>
"""


# The files a board's page is made of, by its page name (Board.slug): what a rebuild removes for a board it no
# longer has.
PAGE_FILES = ("{}.md", "{}.html", "{}.png", "{}-budgets.png", "{}-matrix.png", "{}-effort.png")


def built_pages(out_dir: Path) -> set[str]:
    """The page names the leaderboard.json in `out_dir` says an earlier build wrote there: none where there is no
    such file, or where it is not one that names its pages (a build before leaderboard.json carried "page")."""
    path = out_dir / "leaderboard.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as err:
        raise BenchError(f"{path}: not a leaderboard.json ({err}); move it away to build here") from err
    return {board["page"] for board in data.get("boards", []) if isinstance(board, dict) and board.get("page")}


def write_leaderboard(boards: list[Board], out_dir: Path) -> tuple[list[Path], list[Path]]:
    """Write every board's page, table and curves, an index README and leaderboard.json, and remove the pages an
    earlier build wrote there of boards these records no longer make (only files its leaderboard.json names, so
    nothing else in the folder is touched); return the paths written and the paths removed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = built_pages(out_dir) - {board.slug for board in boards}
    written = []
    sections = []
    for board in boards:
        slug = board.slug
        png = out_dir / f"{slug}.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        tmp = png.with_suffix(".png.tmp")
        tmp.write_bytes(plot_curves(board, "png"))
        tmp.replace(png)
        budgets_png = out_dir / f"{slug}-budgets.png"
        tmp = budgets_png.with_suffix(".png.tmp")
        tmp.write_bytes(plot_budgets(board, "png"))
        tmp.replace(budgets_png)
        if board.matrix is not None:
            for name, image in (("matrix", matrix_pages.plot_matrix(board.matrix, "png")),
                                ("effort", matrix_pages.plot_effort(board.matrix, "png", board.entries))):
                path = out_dir / f"{slug}-{name}.png"
                tmp = path.with_suffix(".png.tmp")
                tmp.write_bytes(image)
                tmp.replace(path)
                written.append(path)
        md = markdown(board, png.name)
        write_text_atomic(out_dir / f"{slug}.md", md)
        write_text_atomic(out_dir / f"{slug}.html", html_page(board))
        sections.append(md + f"\n[sortable page]({slug}.html)\n")
        written += [out_dir / f"{slug}.md", out_dir / f"{slug}.html", png, budgets_png]
    index = ("# relearn-bench leaderboards\n\nBuilt by `bench leaderboard build` from the records in "
             "`records/`; never edited by hand.\n\n" + "\n".join(sections))
    write_text_atomic(out_dir / "README.md", index)
    write_json_atomic(out_dir / "leaderboard.json", leaderboard_json(boards))
    removed = [path for slug in sorted(stale) for name in PAGE_FILES if (path := out_dir / name.format(slug)).is_file()]
    for path in removed:
        path.unlink()
    return [out_dir / "README.md", out_dir / "leaderboard.json", *written], removed
