"""Every defender at its best: a method's grid, one unlearning per setting evaluated at log-spaced steps, the
configuration chosen on validation examples and reported on the test examples, never the other way round."""

import copy
import json

import numpy as np
import pytest
import torch

from bench.api.evaluation import Evaluation, Statistic
from bench.api.method import Grid, UnlearnContext, steps_axis
from bench.api.split import VALIDATION_SHARE, part_of, split_rows, validation_rows
from bench.cli import main
from bench.core.errors import BenchError
from bench.core.options import parse_options
from bench.core.plugins import METHODS
from bench.harness.config import RunConfig
from bench.harness.frontier import FrontierPoint, FrontierRun, grid_of
from bench.neurons.units import unit_space
from bench.results.frontier import (
    Figures,
    choose,
    frontier_page,
    frontier_report,
    plot_frontier,
)
from tests.conftest import tiny_model
from tests.test_weight_editing import tiny_config, token_sets

N = 300
STATISTICS = {"acc/concept": Statistic("questions", "ratio", ("concept_correct", "concept_asked")),
              "acc/others": Statistic("questions", "ratio", ("others_correct", "others_asked"))}
METRICS = [{"name": "acc/concept", "role": "target", "higher_is_better": True, "family": None},
           {"name": "acc/others", "role": "retain", "higher_is_better": True, "family": "accuracy"}]


def evaluation(concept_right: np.ndarray, others_right: np.ndarray) -> Evaluation:
    """Every question asks about the concept and about the others (the columns of one sample)."""
    ones = np.ones(N)
    return Evaluation({"questions": {"concept_correct": concept_right, "concept_asked": ones,
                                     "others_correct": others_right, "others_asked": ones}}, dict(STATISTICS))


def frontier(points: list[Evaluation], objectives=None) -> FrontierRun:
    base = evaluation(np.ones(N), np.ones(N))
    objectives = objectives or [None] * len(points)
    made = [FrontierPoint({"lr": 1e-4}, 4 * 2 ** i, {"steps": 4 * 2 ** i, "seconds": 1.0}, objective, e)
            for i, (e, objective) in enumerate(zip(points, objectives, strict=True))]
    return FrontierRun(RunConfig(method="grad-ascent", task="cbt"), Grid({"lr": (1e-4,)}, epochs=10), base, made,
                       METRICS, {"method": 1, "task": 1}, 1.0, 16)


def forgetting_on(rows: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Concept answers that are wrong on `share` of `rows` (drawn with `seed`), right elsewhere."""
    right = np.ones(N)
    chosen = np.flatnonzero(rows)
    wrong = np.random.default_rng(seed).choice(chosen, size=round(share * len(chosen)), replace=False)
    right[wrong] = 0
    return right


# -- the split ---------------------------------------------------------------------------------------------
def test_the_split_is_a_fixed_third_of_each_sample_and_the_rest_is_reported():
    first, again = validation_rows("sentences", 1741), validation_rows("sentences", 1741)
    assert np.array_equal(first, again) and first.sum() == round(1741 * VALIDATION_SHARE)
    test = split_rows({"sentences": 1741}, "test")["sentences"]
    assert not np.any(first & test) and np.all(first | test)
    assert not np.array_equal(first, validation_rows("windows", 1741))  # each sample its own draw
    e = evaluation(np.arange(N) % 2.0, np.ones(N))
    assert part_of(e, "validation").sizes() == {"questions": 100} and part_of(e, "test").sizes() == {"questions": 200}


# -- the choice --------------------------------------------------------------------------------------------
def test_the_chosen_configuration_never_depends_on_the_test_examples():
    validation = validation_rows("questions", N)
    test = ~validation
    points = [evaluation(forgetting_on(np.ones(N, bool), share, i), np.ones(N)) for i, share in
              enumerate((0.2, 0.5, 0.3))]
    chosen = frontier_report(frontier(points))["chosen"]
    assert chosen == 1
    # Rewrite only the test rows, so that on them the first configuration forgets everything and the second
    # nothing: the choice stays; the reported figures move with the test rows.
    moved = copy.deepcopy(points)
    moved[0].samples["questions"]["concept_correct"][test] = 0
    moved[1].samples["questions"]["concept_correct"][test] = 1
    report = frontier_report(frontier(moved))
    assert report["chosen"] == 1
    assert report["points"][1]["test"]["forgetting"] == 0 and report["points"][0]["test"]["forgetting"] == 1
    assert report["points"][1]["validation"] == frontier_report(frontier(points))["points"][1]["validation"]
    # The same rewrite on the validation rows does move it: the choice is made there.
    swapped = copy.deepcopy(points)
    swapped[0].samples["questions"]["concept_correct"][validation] = 0
    assert frontier_report(frontier(swapped))["chosen"] == 0


def test_a_configuration_beyond_the_bound_or_short_of_its_objective_is_never_chosen():
    everything = np.ones(N, bool)
    gone = np.zeros(N)
    points = [evaluation(forgetting_on(everything, 0.3, 0), np.ones(N)),
              evaluation(gone, forgetting_on(everything, 0.5, 1)),  # all forgotten, half the rest broken
              evaluation(gone, np.ones(N)),  # all forgotten, nothing broken, but the objective was missed
              evaluation(forgetting_on(everything, 0.3, 2), np.ones(N))]  # ties the first: the first stays
    objectives = [{"reached": True}, {"reached": True}, {"reached": False}, {"reached": True}]
    report = frontier_report(frontier(points, objectives))
    assert report["chosen"] == 0
    assert [p["why_not"] for p in report["points"]] == [None, "collateral beyond the bound",
                                                         "did not reach its objective", None]
    assert choose([], [], {}) is None


def test_the_frontier_page_marks_the_chosen_configuration_and_plots_validation_beside_test():
    points = [evaluation(forgetting_on(np.ones(N, bool), share, i), np.ones(N)) for i, share in enumerate((0.2, 0.6))]
    report = frontier_report(frontier(points))
    page = frontier_page(report, "frontier.png")
    assert "**lr=0.0001, steps=8** (chosen)" in page and "100 validation, 200 test" in page
    assert "![forgetting against collateral" in page
    assert plot_frontier(report).startswith(b"\x89PNG")
    json.dumps(report)  # every figure is plain JSON


# -- the grid and the steps axis ---------------------------------------------------------------------------
def test_a_grid_crosses_its_options_and_the_steps_axis_is_log_spaced():
    grid = Grid({"lr": (1e-5, 1e-4), "beta": (None, 1.0)}, epochs=10)
    assert grid.settings() == [{"lr": 1e-5, "beta": None}, {"lr": 1e-5, "beta": 1.0},
                               {"lr": 1e-4, "beta": None}, {"lr": 1e-4, "beta": 1.0}]
    assert steps_axis(208) == [4, 8, 16, 32, 64, 128, 208] and steps_axis(4) == [4] and steps_axis(3) == [3]
    assert steps_axis(32, per_octave=2) == [4, 6, 8, 11, 16, 23, 32]


@pytest.mark.parametrize("name", ["grad-ascent", "grad-diff", "npo", "simnpo", "rmu", "concept-neurons",
                                  "selective-pruning", "snip"])
def test_every_method_the_field_tunes_declares_a_grid(name):
    grid = METHODS.get(name).grid
    assert grid is not None and (grid.settings() and grid.epochs or grid.fractions)


@pytest.mark.parametrize("control", ["random", "none", "never-learned", "retain-tuning"])
def test_a_control_declares_no_grid(control):
    with pytest.raises(BenchError, match="declares no grid"):
        grid_of(control)


def test_concept_neurons_prunes_half_the_units_in_its_grid_as_the_paper_does():
    assert 0.5 in METHODS.get("concept-neurons").grid.fractions


def test_the_model_at_a_checkpoint_is_the_model_a_run_of_that_many_steps_ends_with():
    """The steps axis costs no extra unlearning only because this holds: same data order, same random state,
    a constant schedule, and an evaluation at the checkpoint (here: one that draws random numbers) moves none."""
    forget, retain = token_sets()

    def unlearn(steps: int, checkpoints=(), on_checkpoint=None):
        model = tiny_model("llama", seed=0)
        cls = METHODS.get("grad-ascent")
        method = cls(parse_options(cls.Options, {"lr": 1e-3, "steps": steps}, "grad-ascent"))
        ctx = UnlearnContext(space=unit_space(model), concept=None, fraction=None, k=None, seed=0, batch_size=8,
                             device=torch.device("cpu"), forget_source=lambda: forget, retain_source=lambda: retain,
                             checkpoints=checkpoints, on_checkpoint=on_checkpoint)
        return model, method.unlearn(model, ctx)

    seen = {}

    def at(step, objective):
        torch.rand(5)  # an evaluation that samples
        seen[step] = ({k: v.clone() for k, v in model_8.state_dict().items()}, objective)

    model_8 = tiny_model("llama", seed=0)
    cls = METHODS.get("grad-ascent")
    method = cls(parse_options(cls.Options, {"lr": 1e-3, "steps": 8}, "grad-ascent"))
    method.unlearn(model_8, UnlearnContext(space=unit_space(model_8), concept=None, fraction=None, k=None, seed=0,
                                           batch_size=8, device=torch.device("cpu"), forget_source=lambda: forget,
                                           retain_source=lambda: retain, checkpoints=(4, 8), on_checkpoint=at))
    model_4, result_4 = unlearn(4)
    assert sorted(seen) == [4, 8]
    weights_4, objective_4 = seen[4]
    assert all(torch.equal(weights_4[k], v) for k, v in model_4.state_dict().items())
    assert objective_4["end"] == result_4.info["objective"]["end"]
    model_8_again, _ = unlearn(8)
    assert all(torch.equal(seen[8][0][k], v) for k, v in model_8_again.state_dict().items())


# -- the command -------------------------------------------------------------------------------------------
def test_bench_frontier_names_the_options_it_can_tune_and_refuses_a_control(capsys):
    assert main(["frontier", "--method", "grad-ascent", "--task", "ner", "--grid", "momentum=0.9"]) == 2
    assert "has no option 'momentum' to tune; its options: " in capsys.readouterr().err
    assert main(["frontier", "--method", "grad-ascent", "--task", "ner", "--grid", "steps=4,8"]) == 2
    assert "steps is the frontier's own axis" in capsys.readouterr().err
    assert main(["frontier", "--method", "random", "--task", "ner"]) == 2
    assert "declares no grid" in capsys.readouterr().err


def test_bench_frontier_runs_a_real_grid_on_a_tiny_model_and_writes_its_page(tiny_bert_folder, tiny_conll, tmp_path,
                                                                           capsys):
    cfg = tiny_config(tiny_bert_folder, tiny_conll, method="grad-ascent")
    args = ["frontier", "--method", "grad-ascent", "--task", "ner", "--model", cfg.model, "--data", cfg.data,
            "--finetune-epochs", "8", "--finetune-lr", "3e-3", "--batch-size", "8", "--grid", "lr=1e-4,1e-3",
            "--max-steps", "8", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "setting 1/2" in first.out + first.err
    report = json.loads((tmp_path / "out" / "frontier.json").read_text())
    assert [(p["setting"]["lr"], p["steps"]) for p in report["points"]] == [(1e-4, 4), (1e-4, 8), (1e-3, 4), (1e-3, 8)]
    assert all(p["objective"]["start"] and p["objective"]["end"] for p in report["points"])
    assert all(p["test"]["forgetting_interval"] is not None for p in report["points"])
    assert (tmp_path / "out" / "frontier.png").exists() and "(chosen)" in (tmp_path / "out" / "README.md").read_text() \
        or report["chosen"] is None
    # A second call reads every setting back instead of unlearning again.
    assert main(args) == 0
    again = capsys.readouterr()
    assert "setting 1/2" not in again.out + again.err


# -- the board reports the test part -----------------------------------------------------------------------
def test_a_board_on_the_test_examples_computes_every_figure_without_the_validation_third(tiny_sweep):
    from bench.api.evaluation import unpack
    from bench.results.leaderboard import build_boards
    from bench.results.pages import board_notes
    from bench.results.paired import Resampler
    from bench.results.sources import records_from

    _, exported, _ = tiny_sweep
    records = records_from(exported, None, has_gpu=False)
    (everything,), (tested,) = build_boards(records), build_boards(records, resampler=Resampler(part="test"))
    assert everything.examples == "all" and tested.examples == "test"
    assert "the test part, two thirds, is resampled" in tested.resolution()
    assert any("test part of each evaluation sample" in note for note in board_notes(tested))
    record = records[0]
    with np.load(record.examples) as arrays:
        base = unpack(dict(arrays), "stage0", record.evaluation.statistics)
    target = record.summary.target
    on_test = Resampler(part="test").run(record).at("base")[0]
    assert on_test == pytest.approx(part_of(base, "test").scores()[target])
    assert Resampler().run(record).at("base")[0] == pytest.approx(base.scores()[target])


def test_the_chosen_configuration_is_given_as_a_sweep_entry_that_reads_back():
    import tomllib

    from bench.results.frontier import sweep_entry

    entry = sweep_entry({"method": "simnpo", "chosen_options": {"lr": 1e-4, "beta": None, "gamma": 1.0, "steps": 64}})
    assert tomllib.loads(entry) == {"methods": {"simnpo": {"method_options": {"lr": 1e-4, "gamma": 1.0, "steps": 64}}}}


def test_every_committed_frontier_page_is_what_its_report_builds():
    from pathlib import Path

    committed = sorted(Path(__file__).parent.parent.glob("leaderboards/evidence/frontiers/*/*/frontier.json"))
    assert committed, "the issue-37 frontiers are committed under leaderboards/evidence/frontiers"
    for path in committed:
        report = json.loads(path.read_text())
        assert (path.parent / "README.md").read_text() == frontier_page(report, "frontier.png"), path
        chosen = report["chosen"]
        if chosen is not None:  # the choice is the rule applied to the validation figures the report holds
            validations = [Figures(**p["validation"]) for p in report["points"]]
            assert choose(validations, [p["objective"] for p in report["points"]], report["retain"],
                          report["bounds"]) == chosen


def test_a_configuration_is_within_the_bound_only_where_its_interval_is_as_on_the_board():
    everything = np.ones(N, bool)
    near_the_bound = evaluation(forgetting_on(everything, 0.6, 0), forgetting_on(everything, 0.09, 1))
    inside = evaluation(forgetting_on(everything, 0.2, 2), np.ones(N))
    report = frontier_report(frontier([near_the_bound, inside]))
    assert report["points"][0]["validation"]["collateral"] < 0.1 < report["points"][0]["validation"]["drops_upper"][
        "acc/others"]
    assert report["points"][0]["why_not"] == "collateral within the bound not established"
    assert report["chosen"] == 1
