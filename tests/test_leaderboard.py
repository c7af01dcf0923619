"""Leaderboards: entries and their controls, per-seed figures with 95% CIs, the ranking rule, the pages."""

import json

import pytest

from bench.cli import main
from bench.leaderboard import UNDEFINED_NOTE, build_boards
from bench.leaderboard_pages import cell, markdown
from bench.multiseed import stat
from bench.validate import read_records
from tests.made_records import made_record, made_sweep

SLOW = [(0.2, 0.7, 0.8, 0.8), (0.2, 0.6, 0.8, 0.8), (0.2, 0.7, 0.75, 0.8)]  # recovers fully, fast
RESISTANT = [(0.2, 0.2, 0.3, 0.4), (0.2, 0.25, 0.3, 0.35), (0.2, 0.2, 0.35, 0.4)]
NONE = [(0.8, 0.8, 0.85, 0.9), (0.8, 0.8, 0.9, 0.9), (0.8, 0.82, 0.85, 0.9)]


def board_of(records, **kwargs):
    (board,) = build_boards(records, **kwargs)
    return board


def test_every_figure_is_computed_per_seed_and_reported_with_a_95_percent_ci():
    board = board_of(made_sweep({"random": SLOW, "none": NONE, "concept-neurons": RESISTANT}))
    entry = next(e for e in board.entries if e.method == "concept-neurons")
    assert entry.seeds == [0, 1, 2] and len(entry.run_ids) == 3
    per_seed = [r.summary for r in entry.records]
    assert entry.values["forgetting"] == pytest.approx([0.75] * 3)
    assert entry.values["score"] == pytest.approx([s["forgetting"] * s["resistance"] for s in per_seed])
    assert entry.stats["aurc"] == stat([s["aurc"] for s in per_seed]) and entry.stats["aurc"].ci95 > 0
    rnd = next(e for e in board.entries if e.method == "random")
    # Ratios pair seeds: each seed's aurc over the random control's at the same seed.
    assert entry.values["aurc_vs_random"] == pytest.approx(
        [a / b for a, b in zip(entry.values["aurc"], rnd.values["aurc"], strict=True)])
    assert rnd.values["aurc_vs_random"] == pytest.approx([1.0, 1.0, 1.0])
    # Residual against the base control: the concept still missing after relearning, relative to `none`.
    assert entry.values["residual"] == pytest.approx([(0.9 - 0.4) / 0.9, (0.9 - 0.35) / 0.9, (0.9 - 0.4) / 0.9])
    # And against the random control, which is defined even when random forgot nothing (no aurc of its own).
    assert entry.values["residual_vs_random"] == pytest.approx([(0.8 - 0.4) / 0.8, (0.8 - 0.35) / 0.8, (0.8 - 0.4) / 0.8])
    assert rnd.values["residual_vs_random"] == pytest.approx([0.0, 0.0, 0.0])
    assert [step for step, _ in entry.curve] == [0, 4, 16, 64] and entry.curve[0][1].mean == 0.0


def test_when_random_forgets_nothing_aurc_over_random_is_undefined_but_residual_vs_random_is_not():
    # The usual case at small budgets: random pruning leaves the concept where it was, so it has no r(t).
    records = [made_record("random", s, unlearned=0.8, relearn=(0.8, 0.8, 0.85, 0.9)) for s in range(3)]
    records += [made_record("concept-neurons", s, relearn=curve) for s, curve in enumerate(RESISTANT)]
    board = board_of(records)
    entry = next(e for e in board.entries if e.method == "concept-neurons")
    assert entry.values["aurc_vs_random"] == [None, None, None] and entry.stats["aurc_vs_random"].mean is None
    assert entry.values["residual_vs_random"] == pytest.approx([(0.9 - 0.4) / 0.9, (0.9 - 0.35) / 0.9, (0.9 - 0.4) / 0.9])
    # The page says what an empty cell means rather than leaving a reader to guess.
    assert UNDEFINED_NOTE in markdown(board)


def test_an_entry_is_named_by_its_method_and_one_short_of_its_budget_says_so():
    records = made_sweep({"random": SLOW, "none": NONE})
    records += [made_record("snip", s, relearn=curve, k=4, k_requested=10,
                            label="snip [hats, top 256] (ablation: no LLM)") for s, curve in enumerate(RESISTANT)]
    board = board_of(records)
    entry = next(e for e in board.entries if e.method == "snip")
    assert entry.label == "snip [hats, top 256] (ablation: no LLM)"
    assert entry.short_of_budget and (entry.k, entry.k_requested) == (4, 10)
    page = markdown(board)
    assert "pruned only 4 of 10" in page and "snip [hats, top 256] (ablation: no LLM) pruned 4 of 10" in page
    assert "are ablations of SNIP, not the paper's method" in page
    rnd = next(e for e in board.entries if e.method == "random")
    assert not rnd.short_of_budget and "ablations" not in markdown(board_of(made_sweep({"random": SLOW})))


def test_the_ranking_rule_ranks_by_score_and_lists_entries_beyond_the_collateral_bound_unranked():
    records = made_sweep({"random": SLOW, "none": NONE, "concept-neurons": RESISTANT})
    records += [made_record("keyword", s, relearn=curve) for s, curve in enumerate(SLOW)]
    board = board_of(records, collateral_bound=0.25)
    assert [(e.rank, e.method) for e in board.ranked()] == [(1, "concept-neurons"), (2, "keyword")]
    assert {e.method for e in board.controls()} == {"random", "none"}
    # Collateral here is (0.9 - 0.85) / 0.9 = 0.056: a tighter bound lists the entries without ranking them.
    tight = board_of(records, collateral_bound=0.05)
    assert tight.ranked() == []
    assert all(e.status == "not ranked: collateral 0.056 > bound 0.05" for e in tight.unranked())
    nothing = [made_record("keyword", s, unlearned=0.8, relearn=(0.8, 0.8, 0.8, 0.8)) for s in range(3)]
    assert board_of(nothing).entries[0].status == "not ranked: forgets nothing"


def test_method_options_make_separate_entries_and_reruns_of_a_seed_count_once():
    records = [made_record("snip", 0, method_options={"backend": "hats"}),
               made_record("snip", 0, method_options={"backend": "local"}),
               made_record("snip", 1, method_options={"backend": "local"})]
    again = made_record("snip", 1, method_options={"backend": "local"})
    again.created = "2026-11-24T00:00:00+00:00"
    board = board_of(records + [again])
    assert sorted((e.label, e.seeds) for e in board.entries) == [("snip (backend=hats)", [0]),
                                                                 ("snip (backend=local)", [0, 1])]
    assert next(e for e in board.entries if e.label == "snip (backend=local)").records[1] is again


def test_the_build_writes_markdown_html_curves_and_json_from_real_runs(tiny_sweep, tmp_path, capsys):
    _, records, _ = tiny_sweep
    out = tmp_path / "lb"
    assert main(["leaderboard", "build", "--records", str(records), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "leaderboard.json", "ner-geo-loc.html",
                                                     "ner-geo-loc.md", "ner-geo-loc.png"]
    md = (out / "ner-geo-loc.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| rank |"))
    for column in ("rank", "score", "forgetting", "collateral", "rt90", "aurc", "resistance", "aurc ÷ random",
                   "model", "budget", "seeds", "records"):
        assert f" {column} |" in header
    assert "Score = forgetting × resistance" in md and "collateral bound 0.25" in md
    assert "Setting: profile quick; relearning 20 steps max" in md and "9 records on cpu" in md
    assert md.count("| 0, 1, 2 |") == 3  # three entries, each over the three seeds
    for record in read_records(records):
        assert record.run_id[:8] in md
    page = (out / "ner-geo-loc.html").read_text()
    assert page.count("<tr class=") == 3 and "<svg" in page and 'id="ranking-rule"' in page
    assert "http" not in page.split("<svg")[0]  # self-contained: no external scripts or styles
    data = json.loads((out / "leaderboard.json").read_text())
    assert {e["method"] for e in data["boards"][0]["entries"]} == {"concept-neurons", "random", "none"}
    assert (out / "ner-geo-loc.png").read_bytes()[:4] == b"\x89PNG"


def test_a_build_without_records_or_with_a_bad_one_fails_with_the_file(tmp_path, capsys):
    assert main(["leaderboard", "build", "--records", str(tmp_path)]) == 2
    assert "no records" in capsys.readouterr().err
    (tmp_path / "x.json").write_text('{"schema_version": 1,\n "run_id": ')
    assert main(["leaderboard", "build", "--records", str(tmp_path)]) == 2
    assert "x.json:2: not valid JSON" in capsys.readouterr().err


def test_a_cell_averaged_over_fewer_seeds_than_the_entry_has_says_how_many():
    assert cell(stat([0.2, None, 0.4]), "score", 3) == "0.300 ± 1.271 (2/3 defined)"
    assert cell(stat([0.2, 0.3, 0.4]), "score", 3) == "0.300 ± 0.248"
    assert cell(stat([None, None, None]), "score", 3) == "–"
    assert cell(stat([4, None, None]), "rt90", 3) == "4 (1/3 reached)"


def test_a_seed_that_forgot_nothing_scores_zero_instead_of_leaving_the_mean():
    curves = [(0.2, 0.2, 0.3, 0.4), (0.2, 0.25, 0.3, 0.35)]
    records = [made_record("concept-neurons", s, relearn=c) for s, c in enumerate(curves)]
    records.append(made_record("concept-neurons", 2, unlearned=0.85, relearn=(0.85, 0.85, 0.9, 0.9)))
    entry = board_of(records).entries[0]
    assert entry.values["resistance"][2] is None and entry.values["score"][2] == 0.0
    good = entry.values["score"][:2]
    assert entry.stats["score"].mean == pytest.approx(sum(good) / 3) and entry.stats["score"].n == 3
