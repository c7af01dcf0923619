"""Relearning survives being killed: its state is saved at each evaluation checkpoint, a run started again
goes on from there, and the result is exactly that of a run never interrupted."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.core.errors import BenchError
from bench.harness.resume import RelearnState
from bench.models.training import TrainSettings, train
from bench.neurons.masks import UnitMask
from tests.conftest import tiny_model
from tests.test_training import lm_examples

SETTINGS = TrainSettings(lr=1e-2, weight_decay=0.01, batch_size=5, epochs=None, warmup_ratio=0.0, seed=3,
                         max_steps=23, schedule="constant", warmup_steps=4)  # 24 examples: 5 batches an epoch


class Interrupted(Exception):
    pass


class Saving:
    """The protocol's checkpointer, reduced to the training state."""

    def __init__(self, state):
        self.state, self.resumed = state, 0

    def save(self, step, model, optimizer, schedule):
        self.state.save(step, model, optimizer, schedule, progress=None)

    def restore(self, model, optimizer, schedule):
        saved = self.state.restore(model, optimizer, schedule)
        self.resumed = saved.step if saved else 0
        return self.resumed


def trained(checkpointer=None, stop_at=None):
    model = tiny_model("gpt2", seed=0)
    model.config.resid_pdrop = 0.1  # dropout draws from the random state that the checkpoint must carry

    def evaluate(step, epoch):
        if step == stop_at:
            raise Interrupted  # killed during the evaluation at `stop_at`: its state was never saved

    train(model, lm_examples(), SETTINGS, checkpoints=[7, 12, 18], on_checkpoint=evaluate, checkpointer=checkpointer)
    return model


def test_training_resumed_mid_epoch_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    reference = trained()
    checkpointer = Saving(RelearnState("a-run", tmp_path))
    with pytest.raises(Interrupted):
        trained(checkpointer, stop_at=18)
    assert checkpointer.state.exists()
    resumed = trained(checkpointer)
    assert checkpointer.resumed == 12  # the last state saved: step 12, in the middle of the third epoch
    assert all(torch.equal(p, q) for p, q in zip(reference.parameters(), resumed.parameters()))


def test_a_checkpoint_of_another_run_is_not_used(tmp_path):
    Saving(RelearnState("run-a", tmp_path))  # nothing saved yet
    with pytest.raises(Interrupted):
        trained(Saving(RelearnState("run-a", tmp_path)), stop_at=12)
    (tmp_path / "run-a.pt").rename(tmp_path / "run-b.pt")  # a file under the wrong name
    other = Saving(RelearnState("run-b", tmp_path))
    trained(other)
    assert other.resumed == 0


def bench_run(home: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "BENCH_HOME": str(home), "BENCH_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-m", "bench", "run", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def comparable(folder: Path) -> dict:
    record = json.loads((folder / "record.json").read_text())
    for volatile in ("created", "timings"):
        record.pop(volatile)
    return {key: value for key, value in flat(record).items() if not key.endswith(".seconds")}  # wall times


def flat(value, path=""):
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flat(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in flat(item, f"{path}[{i}]").items()}
    return {path: value}


def test_a_run_killed_during_relearning_resumes_and_writes_the_record_of_an_uninterrupted_run(
        tmp_path, tiny_bert_folder, tiny_conll, bench_home):
    """A real run, killed with SIGKILL after its first relearning checkpoint, then started again: it resumes
    there, and its record (wall times aside), per-example columns and mask are bit for bit those of a run in
    another home that was never interrupted. The checkpoint is gone once the record is written."""
    args = ["--data", str(tiny_conll), "--model", str(tiny_bert_folder), "--finetune-epochs", "1", "--method", "random",
            "--fraction", "0.1", "--relearn-steps", "400", "--relearn-checkpoints", "4,200", "--batch-size", "4"]
    victim = bench_run(bench_home, args)
    checkpoints = bench_home / "checkpoints"
    deadline = time.monotonic() + 300
    while not any(checkpoints.glob("*.pt")) and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert any(checkpoints.glob("*.pt")), "the run ended before its first relearning checkpoint was saved"
    run_id = next(checkpoints.glob("*.pt")).stem
    assert not (bench_home / "runs" / run_id / "record.json").exists()

    resumed = bench_run(bench_home, args)
    log = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, log[-2000:]
    assert "resuming relearning at step 4" in log
    assert not any(checkpoints.glob("*.pt"))

    other_home = tmp_path / "uninterrupted"
    other_home.mkdir()
    (other_home / "assets").symlink_to(bench_home / "assets") if (bench_home / "assets").exists() else None
    uninterrupted = bench_run(other_home, args)
    log = uninterrupted.communicate(timeout=600)[0]
    assert uninterrupted.returncode == 0, log[-2000:]
    ours, theirs = bench_home / "runs" / run_id, other_home / "runs" / run_id
    a, b = comparable(ours), comparable(theirs)
    assert {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)} == {}
    assert json.loads((ours / "record.json").read_text())["timings"]["relearn_resumed_at_step"] == 4
    with np.load(ours / "examples.npz") as a, np.load(theirs / "examples.npz") as b:
        assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    # Compared by content: safetensors writes its metadata (space, hash) in a per-process hash order.
    ours_mask, theirs_mask = UnitMask.load(ours / "mask.safetensors"), UnitMask.load(theirs / "mask.safetensors")
    assert ours_mask.space == theirs_mask.space and torch.equal(ours_mask.pruned, theirs_mask.pruned)


def test_a_checkpoint_from_other_code_starts_over_and_a_half_restore_is_an_error(tmp_path):
    state = RelearnState("run-a", tmp_path)
    with pytest.raises(Interrupted):
        trained(Saving(state), stop_at=12)
    payload = torch.load(state.path, weights_only=False)
    torch.save({**payload, "code": "0.0 an older commit"}, state.path)
    other_code = Saving(state)
    trained(other_code)
    assert other_code.resumed == 0  # checked before anything was loaded: a clean start
    torch.save({**payload, "model": {"not a": torch.zeros(1)}}, state.path)
    with pytest.raises(BenchError, match="could not be restored"):
        trained(Saving(state))
