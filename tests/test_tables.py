"""The terminal tables of `bench run` and `bench show`: every figure printed, an undefined one as –."""

import dataclasses

from rich.console import Console

from bench.results.tables import metrics_table, seeds_table, stages_table, summary_table
from tests.made_records import made_record


def text(table) -> str:
    console = Console(width=100, record=True)
    console.print(table)
    return console.export_text()


def test_a_run_summary_prints_every_figure_and_an_undefined_collateral_as_a_dash():
    record = made_record("concept-neurons", 0)
    summary = dataclasses.replace(record.summary, collateral_by_metric={"f1/person": None})
    shown = text(summary_table(dataclasses.replace(record, summary=summary)))
    assert "collateral f1/person" in shown and "forgetting" in shown and "resistance" in shown
    row = next(line for line in shown.splitlines() if "collateral f1/person" in line)
    assert row.split()[-1] == "–"
    forgetting = next(line for line in shown.splitlines() if line.strip().startswith("forgetting"))
    assert "0.750" in forgetting  # (0.8 - 0.2) / 0.8


def test_the_stage_metric_and_seed_tables_render():
    records = [made_record("random", seed) for seed in (0, 1)]
    assert "f1/geo-loc" in text(stages_table(records[0])) and "f1/person" in text(metrics_table(records[0]))
    seeds = text(seeds_table(records))
    assert "attack moved" in seeds and "collateral f1/person" in seeds


def test_a_run_says_which_attack_ran_and_marks_checkpoints_beyond_the_attackers_bound():
    record = made_record("random", 0)
    steps = [s.step for s in record.stage("relearn") if s.step > 0]
    attack = dataclasses.replace(record.attack, bounds={"f1": 0.1}, inadmissible=[steps[-1]])
    beyond = dataclasses.replace(record, attack=attack)
    shown = text(summary_table(beyond))
    assert "attacker's bound" in shown and f"inadmissible at steps {steps[-1]}" in shown
    stages = text(stages_table(beyond))
    assert "relearn ✗" in stages and "beyond the attacker's bound" in stages
    kept = text(summary_table(dataclasses.replace(record, attack=dataclasses.replace(attack, inadmissible=[]))))
    assert "kept at every checkpoint" in kept
    # A record written before the bound is checked from its own stages, by the same rule.
    assert record.attack.inadmissible is None
    unchecked = " ".join(text(summary_table(record)).split())
    assert "checked from the stages of a record written before the bound" in unchecked
    assert record.inadmissible_steps() == record.inadmissible_steps(bounds={"accuracy": 0.1, "nll": 0.1})
    assert record.inadmissible_steps(bounds={"accuracy": -1.0}) == steps  # every checkpoint beyond an impossible bound
