"""The training loop: checkpoint schedule, seeded reproducibility, and that it actually learns."""

import torch

from bench.data import Examples
from bench.training import TrainSettings, checkpoint_steps, total_steps, train
from tests.conftest import tiny_model


def test_checkpoints_are_log_spaced_plus_epochs_plus_the_end():
    assert checkpoint_steps(300, 100) == [0, 4, 16, 64, 256, 300]
    assert checkpoint_steps(300, 100, log_base=4, every_epochs=1) == [0, 4, 16, 64, 100, 200, 256, 300]
    assert checkpoint_steps(10, 5, log_base=2) == [0, 2, 4, 8, 10]


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
