"""Leaderboards: entries and their controls, per-seed figures with 95% CIs, the ranking rule, the pages."""

import dataclasses
import json
import math

import pytest

from bench.api.validate import read_records
from bench.cli import main
from bench.results.findings import BEGIN, END
from bench.results.inference import censored_median
from bench.results.leaderboard import build_boards
from bench.results.pages import cell, markdown, seed_varies
from bench.results.statistics import stat
from tests.made_records import made_record, made_sweep

SLOW = [(0.2, 0.7, 0.8, 0.8), (0.2, 0.6, 0.8, 0.8), (0.2, 0.7, 0.75, 0.8)]  # recovers fully, fast
RESISTANT = [(0.2, 0.2, 0.3, 0.4), (0.2, 0.25, 0.3, 0.35), (0.2, 0.2, 0.35, 0.4)]
NONE = [(0.8, 0.8, 0.85, 0.9), (0.8, 0.8, 0.9, 0.9), (0.8, 0.82, 0.85, 0.9)]


def board_of(records, **kwargs):
    (board,) = build_boards(records, **kwargs)
    return board


def removed(base, curve, steps=(0, 4, 16, 64)):
    """The log-step mean of (base - m(t)) / base, by hand (trapezoids over log(1 + step))."""
    xs = [math.log1p(s) for s in steps]
    ys = [(base - v) / base for v in curve]
    return sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:])) / (xs[-1] - xs[0])


def test_every_figure_is_computed_per_seed_paired_with_the_controls_of_that_seed():
    board = board_of(made_sweep({"random": SLOW, "none": NONE, "concept-neurons": RESISTANT}))
    entry = next(e for e in board.entries if e.method == "concept-neurons")
    assert entry.seeds == [0, 1, 2] and len(entry.run_ids) == 3
    assert entry.values["forgetting"] == pytest.approx([0.75] * 3)
    # The score: what is still missing compared with the unpruned model relearned the same way, per seed.
    assert entry.values["score"] == pytest.approx(
        [removed(0.8, mine) - removed(0.8, none) for mine, none in zip(RESISTANT, NONE, strict=True)])
    assert entry.values["collateral/f1/person"] == pytest.approx([(0.9 - 0.85) / 0.9] * 3)
    # Recovery against the none control's curve at the same step: seed 0 at step 64 is (0.4-0.2)/(0.9-0.2).
    assert dict(entry.curve)[64].mean == pytest.approx(
        ((0.4 - 0.2) / 0.7 + (0.35 - 0.2) / 0.7 + (0.4 - 0.2) / 0.7) / 3)
    assert entry.values["relearned"] == pytest.approx([(0.4 - 0.2) / 0.8, (0.35 - 0.2) / 0.8, (0.4 - 0.2) / 0.8])
    # Every seed scores the same examples here: the interval adds their joint bootstrap to the seeds' spread.
    assert entry.stats["score"].mean == pytest.approx(sum(entry.values["score"]) / 3)
    score = entry.stats["score"]
    assert score.how == "seeds and examples" and score.eval_se > 0
    assert score.se == pytest.approx(math.hypot(stat(entry.values["score"]).se, score.eval_se))
    assert [step for step, _ in entry.curve] == [0, 4, 16, 64] and entry.curve[0][1].mean == 0.0


def test_without_a_none_control_there_is_no_score_and_the_entry_is_not_ranked():
    records = made_sweep({"random": SLOW, "concept-neurons": RESISTANT})
    entry = next(e for e in board_of(records).entries if e.method == "concept-neurons")
    assert entry.stats["score"].mean is None and entry.rank is None
    assert entry.status == "not ranked: no score (needs the none control at every seed)"


def test_one_none_run_per_seed_controls_every_budget():
    records = made_sweep({"none": NONE})
    for k, fraction in ((10, 0.1), (20, 0.2)):
        records += [dataclasses.replace(made_record("concept-neurons", s, relearn=c, k=k),
                                        config={**made_record("concept-neurons", s).config, "fraction": fraction})
                    for s, c in enumerate(RESISTANT)]
    board = board_of(records)
    entries = [e for e in board.entries if e.method == "concept-neurons"]
    assert len(entries) == 2 and all(e.stats["score"].mean is not None for e in entries)
    assert next(e for e in board.entries if e.method == "none").entry_id.endswith("any budget")


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


def test_the_ranking_rule_ranks_by_score_and_lists_entries_beyond_a_collateral_bound_unranked():
    records = made_sweep({"random": SLOW, "none": NONE, "concept-neurons": RESISTANT})
    records += [made_record("keyword", s, relearn=curve) for s, curve in enumerate(SLOW)]
    random_kept = [made_record("random", s, unlearned=0.78, relearn=(0.78, 0.8, 0.8, 0.8)) for s in range(3)]
    records = [r for r in records if r.method.name != "random"] + random_kept
    board = board_of(records)
    assert [(e.rank, e.method) for e in board.ranked()] == [(1, "concept-neurons"), (2, "keyword")]
    assert {e.method for e in board.controls()} == {"random", "none"}
    # Collateral here is (0.9 - 0.85) / 0.9 = 0.056: a tighter bound lists the entries without ranking them.
    tight = board_of(records, bounds={"accuracy": 0.05})
    assert tight.ranked() == []
    assert all(e.status == "not ranked: collateral on f1/person 0.056 > bound 0.05" for e in tight.unranked())


def test_an_entry_whose_forgetting_overlaps_random_is_not_distinguishable_and_not_ranked():
    # Random pruning forgets as much here (it unlearns to 0.2 as well): nothing says the method found the concept.
    records = made_sweep({"random": SLOW, "none": NONE, "concept-neurons": RESISTANT})
    entry = next(e for e in board_of(records).entries if e.method == "concept-neurons")
    assert entry.rank is None and entry.status.startswith("not distinguishable from random (forgetting minus random")
    assert entry.control_p > 0.05


def test_an_entry_that_forgets_less_than_random_is_not_ranked_for_being_resolved_from_it():
    # Random pruning unlearns to 0.2; this method leaves the concept at the base value: the intervals do not
    # overlap, but in the wrong direction.
    records = made_sweep({"random": SLOW, "none": NONE})
    records += [made_record("concept-neurons", s, unlearned=0.8, relearn=(0.8, 0.8, 0.85, 0.9)) for s in range(3)]
    entry = next(e for e in board_of(records).entries if e.method == "concept-neurons")
    assert entry.rank is None and entry.status.startswith("not ranked: it forgets less than random pruning")


def test_an_entry_with_fewer_seeds_than_its_none_control_waits_for_the_sweep_to_finish():
    # The same resistant method at two of the three seeds the controls ran: a sweep under way, not ranked yet.
    records = made_sweep({"none": NONE})
    records += [made_record("random", s, unlearned=0.78, relearn=(0.78, 0.8, 0.8, 0.8)) for s in range(3)]
    records += [made_record("concept-neurons", s, relearn=c) for s, c in enumerate(RESISTANT[:2])]
    entry = next(e for e in board_of(records).entries if e.method == "concept-neurons")
    assert entry.rank is None and entry.status == "not ranked: 2 of the none control's 3 seeds (a sweep still under way)"
    records += [made_record("concept-neurons", 2, relearn=RESISTANT[2])]
    entry = next(e for e in board_of(records).entries if e.method == "concept-neurons")
    assert entry.rank == 1 and entry.status == "ranked"


def test_entries_the_paired_test_of_their_scores_does_not_separate_share_a_rank_group():
    randoms = [made_record("random", s, unlearned=0.78, relearn=(0.78, 0.8, 0.8, 0.8)) for s in range(3)]
    close = [(0.2, 0.22, 0.3, 0.4), (0.2, 0.25, 0.32, 0.35), (0.2, 0.2, 0.33, 0.4)]  # within RESISTANT's spread
    records = made_sweep({"none": NONE, "concept-neurons": RESISTANT}) + randoms
    records += [made_record("keyword", s, relearn=c) for s, c in enumerate(close)]
    records += [made_record("snip", s, relearn=c) for s, c in enumerate(SLOW)]
    board = board_of(records)
    assert sorted((e.rank, e.method) for e in board.ranked()) == [(1, "concept-neurons"), (1, "keyword"), (2, "snip")]
    assert "| 1 | keyword |" in markdown(board) or "| 1 | concept-neurons |" in markdown(board)


def test_recovery_against_none_is_undefined_where_the_control_gap_is_within_the_evaluation_noise():
    from bench.results.paired import Resampler, recovery_vs_none

    resampler = Resampler()
    mine = resampler.run(made_record("concept-neurons", 0, relearn=(0.2, 0.21, 0.22, 0.5)))
    # The none control's curve sits 0.01 above the unlearned model at step 4 (the joint noise of that gap, two
    # stages of 200 examples with a per-example SD of 0.14 each, is 0.01: 0.01 is within 1.96 of it), 0.6 above
    # at step 0 and from step 16: r(t) is undefined at 4, defined at 0 (r = 0) and after.
    none = resampler.run(made_record("none", 0, unlearned=0.8, relearn=(0.8, 0.21, 0.8, 0.8)))
    curve = dict(recovery_vs_none(mine, none, True))
    assert curve[0][0] == 0.0 and curve[4] is None
    assert curve[16][0] == pytest.approx((0.22 - 0.2) / (0.8 - 0.2)) and curve[64][0] == pytest.approx(0.3 / 0.6)
    # The same curve with unresolved forgetting: undefined everywhere.
    assert all(r is None for _, r in recovery_vs_none(mine, none, False))


def test_undefined_collateral_is_not_rankable():
    records = made_sweep({"none": NONE, "concept-neurons": RESISTANT})
    records += [made_record("random", s, unlearned=0.78, relearn=(0.78, 0.8, 0.8, 0.8)) for s in range(3)]
    for record in records:
        if record.method.name == "concept-neurons":
            record.examples = None  # read from its stored scores: the columns would define it
            for stage in record.stages:
                stage.scores["f1/person"] = None  # the retain type has no gold entity: its F1 is undefined
            record.summary = dataclasses.replace(record.summary, collateral=None,
                                                 collateral_by_metric={"f1/person": None})
    entry = next(e for e in board_of(records).entries if e.method == "concept-neurons")
    assert entry.rank is None and entry.status.startswith("not ranked:")
    assert entry.stats["collateral/f1/person"].mean is None


def test_rt90_distinguishes_undefined_from_not_reached_within_the_attack():
    assert censored_median([(4, "reached"), (16, "reached"), (None, "not reached")], 64).text() == "16"
    assert censored_median([(None, "not reached")] * 2 + [(4, "reached")], 64).text() == "> 64"
    assert censored_median([(None, "undefined")] * 2 + [(4, "reached")], 64).text() == "–"
    # Of two defined seeds the lower median: the faster relearning, the claim a defender can rely on.
    assert censored_median([(None, "not reached"), (None, "undefined"), (4, "reached")], 64).text() == "4 (2/3 defined)"
    # "> N" sorts after every step reached: it is the more resistant.
    assert censored_median([(None, "not reached")] * 3, 64).value > censored_median([(64, "reached")] * 3, 64).value


def test_runs_on_another_device_make_another_entry_and_are_never_paired_across_devices():
    cpu = made_sweep({"none": NONE, "concept-neurons": RESISTANT})
    gpu = made_sweep({"none": NONE, "concept-neurons": RESISTANT})
    for record in gpu:
        record.provenance = dataclasses.replace(record.provenance, device={"type": "cuda"})
        record.run_id = record.run_id[::-1]
    boards = build_boards(cpu + gpu)
    # One board per device: its runs are paired, ranked and plotted among themselves, and its title says where.
    assert [b.title() for b in boards] == ["ner (geo-loc): cpu, task version 1", "ner (geo-loc): cuda, task version 1"]
    entries = [e for b in boards for e in b.entries if e.method == "concept-neurons"]
    assert len(entries) == 2 and all(len(e.records) == 3 for e in entries)
    assert {e.records[0].provenance.device["type"] for e in entries} == {"cpu", "cuda"}
    assert all(e.status == "not ranked: no paired comparison with the random control at its seeds"
               for e in entries)  # none on either


def test_an_entry_is_held_against_the_random_control_of_its_own_configuration_only():
    # Two attacker settings (same device and task version): random pruning forgets little in the first; the second
    # has no random control of its own. Its entry must not borrow the first's random (another configuration), and
    # each configuration ranks its own best budget, on a board of its own (an attack configuration is a column of
    # the attacker matrix, never mixed into another's ranking).
    slow = made_sweep({"none": NONE, "concept-neurons": RESISTANT})
    slow += [made_record("random", s, unlearned=0.78, relearn=(0.78, 0.8, 0.8, 0.8)) for s in range(3)]
    fast = made_sweep({"none": NONE, "concept-neurons": RESISTANT})
    for record in fast:
        record.config["relearn_lr"] = 1e-3
        record.run_id = record.run_id[::-1]
    boards = build_boards(slow + fast)
    assert sorted(b.variant for b in boards) == ["cpu, task version 1", "cpu, task version 1, attack finetune at lr 0.001"]
    by_lr = {e.records[0].config["relearn_lr"]: e for b in boards for e in b.entries if e.method == "concept-neurons"}
    assert by_lr[slow[0].config["relearn_lr"]].status == "ranked"
    assert by_lr[1e-3].status == "not ranked: no paired comparison with the random control at its seeds"


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
    # The board of one attack has its attacker matrix too (one column): the heatmap and the attacker's effort.
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "leaderboard.json", "ner-geo-loc-budgets.png",
                                                     "ner-geo-loc-effort.png", "ner-geo-loc-matrix.png",
                                                     "ner-geo-loc.html", "ner-geo-loc.md", "ner-geo-loc.png"]
    md = (out / "ner-geo-loc.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| rank |"))
    for column in ("rank", "score", "forgetting", "collateral f1/others", "resistance", "rt90", "resistance vs base",
                   "attack moved", "model", "budget", "seeds", "records"):
        assert f" {column} |" in header
    assert "Score = removed vs none" in md and "Collateral bounds: accuracy 0.1, nll 0.1" in md
    assert "Setting: profile quick; relearning 20 steps taken" in md and "9 records on cpu" in md
    assert "Resolution: the target's 95% half-width at the base model is" in md
    assert md.count("| 0, 1, 2 |") == 3  # three entries, each over the three seeds
    for record in read_records(records):
        assert record.run_id[:8] in md
        # Each exported record carries its per-example columns: every interval can be recomputed from them.
        assert (records / "ner" / record.method.name / f"{record.run_id}.npz").exists()
    page = (out / "ner-geo-loc.html").read_text()
    assert page.count("<tr class=") == 3 and "<svg" in page and 'id="ranking-rule"' in page
    assert "http" not in page.split("<svg")[0]  # self-contained: no external scripts or styles
    data = json.loads((out / "leaderboard.json").read_text())
    assert {e["method"] for e in data["boards"][0]["entries"]} == {"concept-neurons", "random", "none"}
    assert (out / "ner-geo-loc.png").read_bytes()[:4] == b"\x89PNG"
    # The same records build the same bytes (plots included): a committed board can be checked by rebuilding it.
    again = tmp_path / "again"
    assert main(["leaderboard", "build", "--records", str(records), "--out", str(again)]) == 0
    assert all((out / p.name).read_bytes() == p.read_bytes() for p in again.iterdir())


def test_a_build_without_records_or_with_a_bad_one_fails_with_the_file(tmp_path, capsys):
    assert main(["leaderboard", "build", "--records", str(tmp_path)]) == 2
    assert "no records" in capsys.readouterr().err
    (tmp_path / "x.json").write_text('{"schema_version": 1,\n "run_id": ')
    assert main(["leaderboard", "build", "--records", str(tmp_path)]) == 2
    assert "x.json:2: not valid JSON" in capsys.readouterr().err


def test_a_cell_averaged_over_fewer_seeds_than_the_entry_has_says_how_many():
    assert cell(stat([0.2, None, 0.4]), 3) == "0.300 ± 1.271 (2/3 defined)"
    assert cell(stat([0.2, 0.3, 0.4]), 3) == "0.300 ± 0.248"
    assert cell(stat([None, None, None]), 3) == "–"


def test_a_seed_that_forgot_nothing_keeps_its_signed_score_in_the_mean():
    curves = [(0.2, 0.2, 0.3, 0.4), (0.2, 0.25, 0.3, 0.35)]
    records = made_sweep({"none": NONE})
    records += [made_record("concept-neurons", s, relearn=c) for s, c in enumerate(curves)]
    records.append(made_record("concept-neurons", 2, unlearned=0.85, relearn=(0.85, 0.85, 0.9, 0.9)))
    entry = next(e for e in board_of(records).entries if e.method == "concept-neurons")
    assert entry.values["forgetting"][2] == pytest.approx(-0.0625)  # it grew: signed, not rectified to 0
    assert entry.values["resistance"][2] is None and entry.values["score"][2] < 0
    assert entry.stats["score"].n == 3


def test_the_page_says_what_each_methods_seed_varied():
    records = made_sweep({"none": NONE, "concept-neurons": RESISTANT})
    records += [made_record("random", s, unlearned=0.78, relearn=(0.78, 0.8, 0.8, 0.8)) for s in range(3)]
    for record in records:
        varied = ["relearning data order"] + (["the method's random draw"] if record.method.name == "random" else [])
        record.provenance = dataclasses.replace(record.provenance, seed_varies=varied)
    assert seed_varies(board_of(records)) == ("concept-neurons, none: relearning data order; "
                                              "random: relearning data order, the method's random draw")
    assert seed_varies(board_of([r for r in records if r.method.name != "random"])) == "relearning data order"


def test_the_resolution_is_the_compared_models_not_the_never_learned_controls():
    records = made_sweep({"none": NONE, "concept-neurons": RESISTANT})
    never = [made_record("never-learned", s, base=0.0, unlearned=0.0, relearn=(0.0, 0.2, 0.5, 0.7)) for s in range(3)]
    for record in never:  # a model that never learned the concept scores 0 on every example: ± 0
        record.stage("base")[0].intervals["f1/geo-loc"] = [0.0, 0.0]
    resolution = board_of(records + never).resolution()
    low, high = (float(x) for x in resolution.split("model is ")[1].split(" ")[0].split("–"))
    assert 0.017 < low <= high < 0.023  # 200 examples with a per-example SD of about 0.14, not the control's 0


def test_the_page_names_every_checkpoint_beyond_the_attackers_bound():
    from tests.made_records import made_sweep

    records = made_sweep({"none": [(0.8, 0.8, 0.8, 0.8)] * 2, "random": [(0.3, 0.5, 0.6, 0.7)] * 2})
    (board,) = build_boards(records)
    assert board.attacker_bound().endswith("records written before the bound are checked from their own stages): "
                                           "held throughout.")
    last = records[-1].stage("relearn")[-1].step
    records[-1] = dataclasses.replace(records[-1], attack=dataclasses.replace(
        records[-1].attack, inadmissible=[last], bounds=dict(board.bounds)))
    (board,) = build_boards(records)
    note = board.attacker_bound()
    assert "random at " in note and "none at" not in note
    assert f"seed 1 at steps {last}" in note and "inadmissible" in note and "seed 0" not in note
    assert note in markdown(board)


def test_records_of_another_attack_get_their_own_board_not_a_place_in_the_fine_tunes_ranking():
    from tests.made_records import made_sweep

    finetuned = made_sweep({"none": [(0.8, 0.8, 0.8, 0.8)] * 2, "random": [(0.3, 0.5, 0.6, 0.7)] * 2})
    quantized = [dataclasses.replace(r, config={**r.config, "attack": "quantize", "attack_options": {"bits": 4}},
                                     attack=dataclasses.replace(r.attack, name="quantize", unit="applications"))
                 for r in made_sweep({"none": [(0.8, 0.8, 0.8, 0.8)] * 2, "random": [(0.3, 0.3, 0.3, 0.3)] * 2})]
    boards = build_boards(finetuned + quantized)
    assert len(boards) == 2 and all(len(b.entries) == 2 for b in boards)
    variants = sorted(b.variant for b in boards)
    assert variants == ["cpu, task version 1", "cpu, task version 1, attack quantize (bits=4)"]
    assert sorted(b.slug for b in boards)[1].endswith("-quantize-bits=4")
    (alone,) = build_boards(finetuned)
    assert alone.variant is None


def test_the_page_sets_what_the_defender_spent_beside_what_the_attacker_spent():
    from bench.results.pages import cost_cell

    none = [made_record("none", s, unlearned=0.8, relearn=(0.8, 0.8, 0.8, 0.8)) for s in range(3)]
    edited = [made_record("grad-diff", s, steps=128) for s in range(3)]
    pruned = [made_record("random", s) for s in range(3)]
    for seed, r in enumerate(edited + pruned):
        r.method.info = {"forget_examples": 507}
        # Three relearning evaluations after step 0 take 1 s each: the attack itself took the rest.
        r.timings = {"unlearn": 300.0 + seed % 3, "relearn": 43.0}
        r.attack.info = {"examples": 68}
    edited[2].timings = {"unlearn": 0.1, "unlearn_first": 301.0, "relearn": 43.0}  # loaded a kept model
    entries = {e.method: e for e in build_boards(none + edited + pruned)[0].entries}
    assert cost_cell(entries["grad-diff"]) == ("128 × lr 1e-05 on 507, 301 s · 64 × lr 2e-05 on 68, 40 s", 301.0)
    assert cost_cell(entries["random"])[0] == "10 units, 301 s · 64 × lr 2e-05 on 68, 40 s"
    assert "defender vs attacker" in markdown(build_boards(none + edited)[0])


def test_the_readme_section_links_each_board_page_where_the_readme_is(tiny_sweep, tmp_path, capsys):
    _, records, _ = tiny_sweep
    readme = tmp_path / "docs" / "README.md"
    readme.parent.mkdir()
    readme.write_text(f"# Boards\n\n{BEGIN}\n{END}\n\nHand-written text after it.\n")
    out = tmp_path / "site" / "boards"
    assert main(["leaderboard", "build", "--records", str(records), "--out", str(out), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# Boards\n") and text.endswith("Hand-written text after it.\n")
    assert "([page](../site/boards/ner-geo-loc.md))" in text and "`../site/boards/leaderboard.json`" in text
    assert (readme.parent / "../site/boards/ner-geo-loc.md").resolve().is_file()


def test_a_rebuild_removes_the_pages_of_boards_its_records_no_longer_make_and_nothing_else(tmp_path):
    from bench.results.pages import write_leaderboard

    def records(devices):
        return [made_record(m, s, device=d, unlearned=0.8 if m == "none" else 0.2)
                for d in devices for m in ("concept-neurons", "none") for s in range(2)]

    written, removed = write_leaderboard(build_boards(records(["cpu", "cuda"])), tmp_path)
    assert removed == []
    (tmp_path / "notes.md").write_text("a person's file")  # not a page any build wrote
    pages = {p.stem for p in written if p.suffix == ".html"}
    assert len(pages) == 2, pages  # one board per device
    written, removed = write_leaderboard(build_boards(records(["cpu"])), tmp_path)
    (kept,) = {p.stem for p in written if p.suffix == ".html"}  # one device: the page loses its device in its name
    gone = pages - {kept}
    assert gone and removed and all(any(p.name.startswith(g) for g in gone) for p in removed)
    assert not any(p.name.startswith(g) for p in tmp_path.iterdir() for g in gone)
    assert (tmp_path / "notes.md").read_text() == "a person's file" and (tmp_path / f"{kept}.md").is_file()


def test_a_build_into_a_folder_whose_leaderboard_json_is_broken_names_it_and_writes_nothing(tmp_path):
    from bench.core.errors import BenchError
    from bench.results.pages import write_leaderboard

    out = tmp_path / "pages"
    out.mkdir()
    (out / "leaderboard.json").write_text("{not json")
    with pytest.raises(BenchError, match="leaderboard.json"):
        write_leaderboard(build_boards([made_record(m, 0) for m in ("concept-neurons", "none")]), out)
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.json"]
