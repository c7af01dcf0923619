"""What a board shows, in three generated lines at the top of its page: which entries forget the concept more
than their control, which still keep it removed under the strongest attack the records hold (and which attack
that was), and how the board ranks them with the smallest difference it can resolve.

Every figure is the page's own (the same estimates and the same Holm-corrected tests as its tables), so the lines
can never say more than the tables below them: an entry "forgets" only where its paired test against its control
rejects at α, and "resists" only where the interval of what its worst case leaves removed lies above 0. A reader
who stops after three lines has read the board's verdicts, not a summary written by hand.
"""

from __future__ import annotations

from typing import Any

from bench.results.inference import ALPHA, Estimate
from bench.results.matrix import NO_ATTACK, Matrix, MatrixRow


def entry_name(entry: Any) -> str:
    """An entry as the matrix and the headline name it: a control by its label, a method with its budget."""
    return entry.label if entry.is_control else f"{entry.label} · {entry.budget}"



def _defenders(board: Any) -> list[Any]:
    return [e for e in board.entries if not e.is_control]


def _above_zero(stat: Estimate | None) -> bool:
    return stat is not None and stat.mean is not None and stat.low is not None and stat.low > 0


def forgetting_line(board: Any) -> str:
    """Which entries remove more of the target than their control, paired at each seed, Holm-corrected."""
    forgets, others, untested = [], [], []
    for e in _defenders(board):
        test = e.control_test
        text = f"{entry_name(e)} {e.stats['forgetting'].format(3)}" if "forgetting" in e.stats else entry_name(e)
        if e.control_p is None:  # no paired test against its control (missing seeds or columns): no verdict
            untested.append(text)
        elif test.mean > 0 and e.control_p < ALPHA:
            forgets.append(f"{text} ({test.mean:+.3f} over {e.control})")
        else:
            others.append(text)
    if not (forgets or others or untested):
        return "**Forgets:** no method on this board, only its controls."
    head = (f"**Forgets** (forgetting of `{board.target}`, more than its control in a paired test, Holm-corrected "
            f"at α = {ALPHA:g}): ")
    said = "; ".join(forgets) if forgets else "no entry"
    rest = f". Not separated from their control: {'; '.join(others)}" if others else ""
    rest += f". Not tested against their control (the table says why): {'; '.join(untested)}" if untested else ""
    return head + said + rest + "."


def _worst_text(row: MatrixRow) -> str:
    worst = row.worst
    # An entry the board does not rank (its collateral, its seeds, its control) is said so where it is named.
    unranked = "" if row.entry.rank is not None else "; not ranked"
    if worst.attack == NO_ATTACK and worst.candidates and worst.inadmissible == worst.candidates:
        # Nothing was within the bound: the entry "resists" only in that no usable model was left to attack.
        return f"every attacked checkpoint went past the attacker's bound{unranked}"
    if worst.attack == NO_ATTACK:
        return f"no admissible attack recovered any of it{unranked}"
    spent = "one application" if worst.unit == "applications" else f"{worst.step} {worst.unit}"
    return f"worst: {worst.attack} at {spent}, recovering {worst.recovered.format(3)}{unranked}"


def resistance_line(board: Any) -> str:
    """Which entries keep the concept removed under their worst case: the attacker matrix's (every attack
    configuration the records hold, chosen on validation, reported on test), or the board's own attack."""
    matrix: Matrix | None = board.matrix
    if matrix is None:
        # A board of one attack configuration that is not the default: its score is what that attack left removed.
        keep, lose = [], []
        for e in _defenders(board):
            if "score" in e.stats:
                (keep if _above_zero(e.stats["score"]) else lose).append(
                    f"{entry_name(e)} {e.stats['score'].format(3)}")
        return (f"**Resists** this attack (score: removed against the none control over the attack, interval above 0): "
                f"{'; '.join(keep) or 'no entry'}" + (f". Does not: {'; '.join(lose)}" if lose else "") + ".")
    rows = [r for r in matrix.rows if not r.entry.is_control and r.worst is not None]
    if not rows:
        return ("**Resists:** not measured: no entry has a none control at its attack configurations and seeds "
                "(what an attack brings back is counted against the intact model attacked the same way).")
    configs = len(matrix.attacks)
    against = (f"the strongest of {configs} attack configurations and their checkpoints" if configs > 1
               else f"the strongest checkpoint of its one attack ({matrix.default})")
    keep, lose = [], []
    for r in rows:
        (keep if _above_zero(r.worst.removed) else lose).append(
            f"{entry_name(r.entry)} {r.worst.removed.format(3)} ({_worst_text(r)})")
    head = (f"**Resists** {against} within the attacker's bound (removed in the worst case, chosen on the "
            f"validation third, reported on the test two thirds, interval above 0): ")
    return head + ("; ".join(keep) or "no entry") + (f". Gives it back: {'; '.join(lose)}" if lose else "") + "."


def _groups(ranked: list[tuple[int, str]]) -> str:
    by_rank: dict[int, list[str]] = {}
    for rank, name in ranked:
        by_rank.setdefault(rank, []).append(name)
    return "; ".join(f"{rank} {', '.join(names)}" for rank, names in sorted(by_rank.items()))


def ranking_line(board: Any) -> str:
    """The board's rank groups (score under its attack), the worst case's where there is a matrix, what is not
    ranked, and the smallest difference in score the board resolves."""
    ranked = sorted((e.rank, entry_name(e)) for e in board.entries if e.rank is not None)
    parts = [f"**Ranks** by score under {'the default attack' if board.attack_is_default else 'this attack'}: "
             + (_groups(ranked) if ranked else "no entry is ranked")]
    matrix: Matrix | None = board.matrix
    if matrix is not None and len(matrix.attacks) > 1:
        worst = sorted((r.rank, entry_name(r.entry)) for r in matrix.rows if r.rank is not None)
        if worst:
            parts.append(f"by worst case: {_groups(worst)}")
    unranked = [entry_name(e) for e in _defenders(board) if e.rank is None]
    if unranked:
        parts.append(f"not ranked: {', '.join(unranked)} (the table says why)")
    power = board.power
    if power is not None and power.mdd is not None:
        parts.append(f"the board resolves a difference in score of {power.mdd:.3f} with {power.seeds} "
                     f"seed{'s' if power.seeds != 1 else ''}")
    elif power is not None and power.seeds == 0:
        parts.append("its resolution is not estimated (no none control to pair with)")
    elif power is not None:
        parts.append(f"its resolution is not estimated ({power.seeds} seed{'s' if power.seeds != 1 else ''}: "
                     "the seeds' spread is unknown)")
    return "; ".join(parts) + "."


def headline(board: Any) -> list[str]:
    return [forgetting_line(board), resistance_line(board), ranking_line(board)]
