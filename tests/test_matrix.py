"""The attacker matrix: entries × attack configurations, and each entry's worst case, chosen on the validation
examples among the admissible checkpoints and reported on the test examples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.api.evaluation import unpack
from bench.api.split import part_of, validation_rows
from bench.results.leaderboard import build_boards, leaderboard_json
from bench.results.matrix import NO_ATTACK, Candidate, choose_worst
from tests.made_records import EXAMPLES, made_record

SEEDS = (0, 1)
DEFAULT = "finetune at lr 2e-05"
FAST = "finetune at lr 0.0001"
LORA = "lora at lr 2e-05"
INTACT = (0.8, 0.78, 0.76, 0.75)  # what each attack does to the intact model: relearning alone costs it a little


def matrix_records(fast_retain=(0.85, 0.85, 0.85, 0.5), edit_lora=None) -> list:
    """concept-neurons (unlearned to 0.2) and its random control, with the none control, under three attack
    configurations: the default fine-tune (brings back little), a fine-tune at a higher rate (brings back most,
    but its last checkpoint breaks the retain metric), and LoRA."""
    records = []
    attacks = {DEFAULT: ("finetune", None, (0.2, 0.3, 0.35, 0.4), None),
               FAST: ("finetune", 1e-4, (0.2, 0.5, 0.6, 0.75), fast_retain),
               LORA: ("lora", None, (0.2, 0.45, 0.55, 0.58), None)}
    for seed in SEEDS:
        for _, (attack, lr, curve, retain) in attacks.items():
            records.append(made_record("concept-neurons", seed, relearn=curve, attack=attack, relearn_lr=lr,
                                       retain_relearn=retain, edit=edit_lora if attack == "lora" else None))
            records.append(made_record("random", seed, unlearned=0.75, relearn=(0.75, 0.76, 0.75, 0.75), attack=attack,
                                       relearn_lr=lr))
            records.append(made_record("none", seed, unlearned=0.8, relearn=INTACT, retain_unlearned=0.9,
                                       attack=attack, relearn_lr=lr))
    return records


def default_board(records):
    boards = build_boards(records)
    assert len(boards) == 3  # one per attack configuration; the default's carries the matrix
    (board,) = [b for b in boards if b.matrix is not None]
    assert board.attack_is_default and board.variant is None or "attack" not in (board.variant or "")
    return board


def test_the_worst_case_is_never_an_inadmissible_checkpoint():
    matrix = default_board(matrix_records()).matrix
    row = matrix.row("concept-neurons")
    assert matrix.attacks == [DEFAULT, FAST, LORA]
    # The fast fine-tune recovers most at its last checkpoint, but the retain metric fell from 0.9 to 0.5 there:
    # the worst case is its best admissible checkpoint instead, and the cell at 64 says it was beyond the bound.
    assert not row.cells[FAST].admissible and row.cells[FAST].step == 64
    assert (row.worst.attack, row.worst.step) == (FAST, 16)
    assert row.worst.inadmissible == 1 and row.worst.test_admissible
    # With every checkpoint of it beyond the bound, LoRA is the worst case.
    broken = default_board(matrix_records(fast_retain=(0.5, 0.5, 0.5, 0.5))).matrix.row("concept-neurons")
    assert (broken.worst.attack, broken.worst.step) == (LORA, 64)
    # An entry that no attack moves has the unlearned model as its worst case: nothing recovered.
    assert choose_worst([Candidate("a", 4, 0.3, False)]) is None
    assert choose_worst([Candidate("a", 4, 0.3, True), Candidate("b", 4, 0.3, True)]).attack == "a"  # tie: first
    # The attacker-effort curve never falls, and ends at the worst case's validation figure.
    best = [value for _, value in row.effort]
    assert best == sorted(best) and best[-1] == row.worst.validation and len(row.effort) == 3
    control = matrix.row("none")
    assert control.worst.attack == NO_ATTACK and control.worst.recovered.mean == 0


def test_the_worst_case_is_chosen_without_seeing_the_examples_it_is_reported_on():
    test_rows = ~validation_rows("targets", EXAMPLES)

    def boost(rows):
        def edit(evaluations):
            for evaluation in evaluations[3:]:  # the relearning checkpoints after step 0
                evaluation.samples["targets"]["geo-loc"][rows] += 0.4
        return edit

    before = default_board(matrix_records()).matrix.row("concept-neurons")
    # On the test rows only, LoRA now brings back far more than the fast fine-tune: the choice stays where the
    # validation rows put it, and the reported LoRA cell moves.
    moved = default_board(matrix_records(edit_lora=boost(test_rows))).matrix.row("concept-neurons")
    assert (moved.worst.attack, moved.worst.step) == (before.worst.attack, before.worst.step) == (FAST, 16)
    assert moved.worst.validation == before.worst.validation
    assert moved.cells[LORA].recovered.mean > before.cells[LORA].recovered.mean + 0.3
    # The same change on the validation rows moves it.
    swapped = default_board(matrix_records(edit_lora=boost(~test_rows))).matrix.row("concept-neurons")
    assert swapped.worst.attack == LORA


def _test_score(record, stage_index: int) -> float:
    with np.load(record.examples) as arrays:
        evaluation = unpack(dict(arrays), f"stage{stage_index}", record.evaluation.statistics)
    return part_of(evaluation, "test").scores()["f1/geo-loc"]


def test_every_matrix_cell_is_the_records_own_figure_on_the_test_examples():
    records = matrix_records()
    board = default_board(records)
    found = json.loads(json.dumps(leaderboard_json(build_boards(records))))
    (matrix_json,) = [b["attacker_matrix"] for b in found["boards"] if "attacker_matrix" in b]
    for attack, lr in (("finetune", 2e-5), ("finetune", 1e-4), ("lora", 2e-5)):
        label = f"{attack} at lr {lr:g}"
        per_seed = []
        for seed in SEEDS:
            mine, none = [next(r for r in records if r.method.name == m and r.config["seed"] == seed and
                               r.config["attack"] == attack and r.config["relearn_lr"] == lr)
                          for m in ("concept-neurons", "none")]
            base, unlearned, last = _test_score(mine, 0), _test_score(mine, 1), _test_score(mine, len(mine.stages) - 1)
            per_seed.append((base - unlearned) / base - (_test_score(none, len(none.stages) - 1) - last) / base)
        cell = board.matrix.row("concept-neurons").cells[label]
        assert cell.recovered.mean == pytest.approx(np.mean(per_seed), abs=1e-12)
        (row,) = [r for r in matrix_json["rows"] if r["label"] == "concept-neurons"]
        assert row["cells"][label]["recovered"]["mean"] == pytest.approx(np.mean(per_seed), abs=1e-12)


def test_the_board_page_opens_with_the_heatmap_and_the_worst_case_beside_the_default_attack(tmp_path):
    from bench.results.pages import write_leaderboard

    boards = build_boards(matrix_records())
    paths, _ = write_leaderboard(boards, tmp_path)
    (page,) = [p for p in paths if p.suffix == ".md" and p.name != "README.md" and "### Attacker matrix" in p.read_text()]
    text = page.read_text()
    assert text.index("### Attacker matrix") < text.index("Target metric")
    assert f"{FAST}, at 16 steps" in text  # the worst attack, named
    assert "lora at lr 2e-05" in text and "in-context: refused, needs Task.demonstrations" in text
    for plot in ("-matrix.png", "-effort.png"):
        assert (tmp_path / page.name.replace(".md", plot)).read_bytes().startswith(b"\x89PNG")
        assert page.name.replace(".md", plot) in text
    html_page = (tmp_path / page.name.replace(".md", ".html")).read_text()
    assert 'id="matrix"' in html_page and 'id="worst-case"' in html_page and 'id="effort"' in html_page


def test_the_page_opens_with_three_lines_saying_what_the_board_shows_then_the_heatmap():
    from bench.results.headline import headline
    from bench.results.pages import html_page, markdown

    board = default_board(matrix_records())
    lines = headline(board)
    assert [line.split("**")[1] for line in lines] == ["Forgets", "Resists", "Ranks"]
    entry = next(e for e in board.entries if e.label == "concept-neurons")
    row = board.matrix.row("concept-neurons")
    # Every figure is the board's own, and every verdict its own test's.
    assert entry.stats["forgetting"].format(3) in lines[0]
    assert (entry.control_p < 0.05 and entry.control_test.mean > 0) == ("Not separated" not in lines[0])
    assert f"{row.worst.removed.format(3)} (worst: {row.worst.attack} at {row.worst.step} steps" in lines[1]
    assert (row.worst.removed.low > 0) == ("Gives it back" not in lines[1])
    assert "the strongest of 3 attack configurations" in lines[1]
    assert "by worst case: 1 concept-neurons" in lines[2] or "no entry is ranked" in lines[2]
    page = markdown(board, "board.png")
    assert page.index(lines[2]) < page.index("### Attacker matrix") < page.index("Target metric")
    assert '<ul id="shows"><li><b>Forgets</b>' in html_page(board)


def test_an_entry_its_control_cannot_tell_apart_is_never_said_to_forget():
    from bench.results.headline import forgetting_line

    records = [r for r in matrix_records() if r.config["attack"] == "finetune" and r.config["relearn_lr"] == 2e-5]
    records = [made_record("concept-neurons", r.config["seed"], unlearned=0.75, relearn=(0.75, 0.76, 0.75, 0.75))
               if r.method.name == "concept-neurons" else r for r in records]
    (board,) = build_boards(records)
    line = forgetting_line(board)
    assert "no entry. Not separated from their control: concept-neurons" in line


def test_a_board_of_one_attack_opens_with_its_heatmap_too():
    from bench.results.headline import resistance_line

    records = [r for r in matrix_records() if r.config["attack"] == "finetune" and r.config["relearn_lr"] == 2e-5]
    (board,) = build_boards(records)
    assert board.matrix is not None and board.matrix.attacks == [DEFAULT]
    assert f"the strongest checkpoint of its one attack ({DEFAULT})" in resistance_line(board)


def test_an_entry_every_attack_broke_is_not_said_to_have_kept_the_concept_by_its_own_merit():
    from bench.results.headline import resistance_line

    records = [r for r in matrix_records() if r.config["attack"] == "finetune" and r.config["relearn_lr"] == 2e-5]
    records = [made_record("concept-neurons", r.config["seed"], relearn=(0.2, 0.3, 0.35, 0.4),
                           retain_relearn=(0.85, 0.5, 0.5, 0.5)) if r.method.name == "concept-neurons" else r
               for r in records]
    (board,) = build_boards(records)
    assert board.matrix.row("concept-neurons").worst.attack == NO_ATTACK
    assert "(every attacked checkpoint went past the attacker's bound" in resistance_line(board)


def test_without_the_none_control_resistance_is_said_to_be_unmeasured_not_absent():
    from bench.results.headline import resistance_line

    records = [r for r in matrix_records() if r.config["attack"] == "finetune" and r.config["relearn_lr"] == 2e-5
               and r.method.name != "none"]
    (board,) = build_boards(records)
    assert resistance_line(board).startswith("**Resists:** not measured: no entry has a none control")
