"""The training loop: checkpoint schedule, seeded reproducibility, and that it actually learns."""

import torch

from bench.api.data import Examples
from bench.harness.config import RunConfig
from bench.models.training import TrainSettings, make_schedule, total_steps, train
from tests.conftest import tiny_model


def test_relearning_checkpoints_are_the_declared_steps_within_the_budget_plus_zero_and_the_end():
    assert RunConfig().checkpoints() == [0, 4, 16, 64, 256]
    assert RunConfig(relearn_steps=100).checkpoints() == [0, 4, 16, 64, 100]
    assert RunConfig(relearn_steps=0).checkpoints() == [0]


def test_a_step_budget_cycles_the_data_and_the_relearning_rate_is_constant_after_its_warmup():
    settings = TrainSettings(lr=1e-3, weight_decay=0.0, batch_size=4, epochs=None, warmup_ratio=0.0, seed=0,
                             max_steps=50, schedule="constant", warmup_steps=4)
    assert total_steps(10, settings) == 50  # 3 batches of data, 50 steps: the data cycles
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=settings.lr)
    schedule = make_schedule(optimizer, settings, 50)
    rates = []
    for _ in range(50):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[:5] == [0.0, 0.25e-3, 0.5e-3, 0.75e-3, 1e-3] and set(rates[4:]) == {1e-3}


def test_total_steps_honours_epochs_and_max_steps():
    settings = TrainSettings(lr=1e-3, weight_decay=0.0, batch_size=4, epochs=2.5, warmup_ratio=0.0, seed=0)
    assert total_steps(10, settings) == 8  # 3 steps per epoch * 2.5, rounded up
    assert total_steps(10, TrainSettings(**{**settings.__dict__, "max_steps": 5})) == 5


def lm_examples(n=24):
    g = torch.Generator().manual_seed(0)

    def collate(rows):
        ids = torch.tensor([r["input_ids"] for r in rows])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}

    # A learnable pattern: each sequence counts upwards from a random start.
    starts = torch.randint(2, 40, (n,), generator=g).tolist()
    return Examples([{"input_ids": list(range(s, s + 8))} for s in starts], collate)


def run_training(seed):
    model = tiny_model("gpt2", seed=0)
    losses = []
    settings = TrainSettings(lr=1e-2, weight_decay=0.01, batch_size=4, epochs=15, warmup_ratio=0.1, seed=seed)
    data = lm_examples()
    def evaluate(step, epoch):
        with torch.no_grad():
            losses.append(float(model(**data.collate(list(data.examples))).loss))

    result = train(model, data, settings, checkpoints=[0, 90], on_checkpoint=evaluate)
    return model, losses, result


def test_training_learns_and_is_reproducible_per_seed():
    model_a, losses, result = run_training(seed=1)
    assert result.steps == 90 and result.steps_per_epoch == 6
    assert losses[1] < 0.5 * losses[0], losses
    model_b, losses_b, _ = run_training(seed=1)
    assert losses_b == losses
    assert all(torch.equal(p, q) for p, q in zip(model_a.parameters(), model_b.parameters()))
    _, losses_c, _ = run_training(seed=2)
    assert losses_c[1] != losses[1]
