"""The built-in attacks do what their names say: `retain-only` trains on data where the concept is never a
target (checked against the task's own tags, and the same check finds the concept in the relearning split), and
a run with it records the attack it ran."""

from bench.harness.config import build_config
from bench.harness.protocol import run
from bench.harness.resolution import resolve_run


def tiny_config(model, data, **cli):
    values = {"model": str(model), "data": str(data), "finetune_epochs": "2", "finetune_lr": "3e-3",
              "relearn_steps": "6", "relearn_checkpoints": "2", "batch_size": "8", "fraction": "0.25", **cli}
    return build_config(cli_values=values)


def concept_targets(setup, data) -> int:
    """Tokens of `data` whose training target is one of the concept's tags."""
    ids = {i for i, tag in enumerate(setup.task.tags) if tag != "O" and tag[2:] == setup.task.concept}
    return sum(int(label) in ids for example in data.examples for label in example["labels"])


def test_retain_only_trains_on_data_where_the_concept_is_never_a_target(tiny_bert_folder, tiny_conll):
    setup = resolve_run(tiny_config(tiny_bert_folder, tiny_conll, attack="retain-only"))
    tokenizer = setup.loaded.tokenizer
    retain, relearn = setup.task.retain_data(tokenizer), setup.task.relearn_data(tokenizer)
    assert len(retain) > 0 and concept_targets(setup, retain) == 0
    assert concept_targets(setup, relearn) > 0  # the check sees the concept where it is a target


def test_a_run_records_its_attack_and_what_it_trained_on(tiny_bert_folder, tiny_conll):
    record = run(tiny_config(tiny_bert_folder, tiny_conll, attack="retain-only"))
    assert record.config["attack"] == "retain-only" and record.attack.name == "retain-only"
    assert record.attack.version == 1 and record.attack.info["examples"] > 0
    assert [s.step for s in record.stage("relearn")] == [0, 2, 6]
    finetuned = run(tiny_config(tiny_bert_folder, tiny_conll))
    assert finetuned.run_id != record.run_id and finetuned.stages[1] == record.stages[1]  # one unlearned model
