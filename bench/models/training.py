"""The one training loop, used for the task's fine-tuning, for gradient unlearning methods and for relearning.

AdamW, a linear (fine-tuning) or constant (relearning) schedule after a warmup, gradient clipping, bf16 autocast
on CUDA, seeded shuffling, and evaluation callbacks at chosen optimizer steps. The loss is the model's own
(`model(**batch).loss`) unless the caller gives a loss function (an unlearning method's objective). Read it top
to bottom; there is nothing else.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import torch
from torch import nn

from bench.core.progress import bar
from bench.models.precision import autocast_for

if TYPE_CHECKING:  # the layer above defines the data; training only iterates its loader
    from bench.api.data import Examples, Paired


@dataclass(frozen=True)
class TrainSettings:
    lr: float
    weight_decay: float
    batch_size: int
    epochs: float | None  # None: train `max_steps` steps, cycling through the data
    warmup_ratio: float
    seed: int
    max_steps: int | None = None
    grad_clip: float = 1.0
    schedule: Literal["linear", "constant"] = "linear"  # after the warmup: decay to 0, or hold the rate
    warmup_steps: int | None = None  # instead of warmup_ratio × total steps

    def __post_init__(self) -> None:
        if self.epochs is None and self.max_steps is None:
            raise ValueError("train for a number of epochs or of steps")


@dataclass(frozen=True)
class TrainResult:
    steps: int
    steps_per_epoch: int
    seconds: float
    final_loss: float | None


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return max(1, math.ceil(n_examples / batch_size))


def total_steps(n_examples: int, settings: TrainSettings) -> int:
    if settings.epochs is None:
        return settings.max_steps
    steps = math.ceil(settings.epochs * steps_per_epoch(n_examples, settings.batch_size))
    return min(steps, settings.max_steps) if settings.max_steps is not None else steps


def make_schedule(optimizer: torch.optim.Optimizer, settings: TrainSettings, total: int):
    from transformers import (
        get_constant_schedule_with_warmup,
        get_linear_schedule_with_warmup,
    )

    warmup = settings.warmup_steps if settings.warmup_steps is not None else round(settings.warmup_ratio * total)
    if settings.schedule == "constant":
        return get_constant_schedule_with_warmup(optimizer, warmup)
    return get_linear_schedule_with_warmup(optimizer, warmup, total)


def make_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW; the fused kernel where the device has one (on CPU it makes the update 7x cheaper)."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)


# loss(model, batch) -> a scalar to minimise; `batch` is what the data's collator returns, on the model's device.
LossFn = Callable[[nn.Module, dict], torch.Tensor]


def model_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """The model's own loss on a batch with `labels` (cross-entropy of its head)."""
    return model(**batch).loss


def to_device(batch: Any, device: torch.device) -> Any:
    """A batch on `device`; nested batches (an unlearning method's forget and retain halves) too."""
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch.to(device) if isinstance(batch, torch.Tensor) else batch


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode (no dropout) inside the block, and back in the mode it was in after it, even when
    the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


class Checkpointer(Protocol):
    """Saves the training state at evaluation checkpoints and restores it, so a killed run resumes."""

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer, schedule) -> int:
        """Load the last saved state into these objects; the step it was saved at (0: nothing saved)."""

    def save(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, schedule) -> None:
        """Save the state after the evaluation at `step`."""


def train(
    model: nn.Module,
    data: Examples | Paired,
    settings: TrainSettings,
    *,
    autocast_dtype: torch.dtype | None = None,
    checkpoints: Iterable[int] = (),
    on_checkpoint: Callable[[int, float], None] | None = None,
    description: str = "train",
    checkpointer: Checkpointer | None = None,
    loss_fn: LossFn = model_loss,
) -> TrainResult:
    """Train `model` in place; call `on_checkpoint(step, epoch)` at each step in `checkpoints` (0 = before).
    With a `checkpointer`, the state is saved after each checkpoint's evaluation (the last step excepted: the
    caller writes its result next) and training starts from the last saved state, exactly where it left off:
    the data order of an epoch depends only on the seed and the epoch, so the batches already taken in the
    interrupted epoch are skipped, and the random state (dropout) is part of what is saved."""
    device = next(model.parameters()).device
    per_epoch = steps_per_epoch(len(data), settings.batch_size)
    total = total_steps(len(data), settings)
    wanted = set(checkpoints)
    optimizer = make_optimizer(model, settings)
    trained = [p for group in optimizer.param_groups for p in group["params"]]  # a method may train a few layers
    schedule = make_schedule(optimizer, settings, total)
    torch.manual_seed(settings.seed)  # dropout masks

    def checkpoint(step: int) -> None:
        if on_checkpoint is not None and step in wanted:
            model.eval()
            on_checkpoint(step, step / per_epoch)
            model.train()
            if checkpointer is not None and 0 < step < total:
                checkpointer.save(step, model, optimizer, schedule)

    start = time.perf_counter()
    loss_value = None
    step = checkpointer.restore(model, optimizer, schedule) if checkpointer is not None else 0
    model.train()
    if step == 0:
        checkpoint(0)
    with bar(description, total) as progress:
        progress.advance(step)
        epoch, taken = divmod(step, per_epoch)  # every epoch but a cut-off last one has per_epoch batches
        while step < total:
            for position, batch in enumerate(data.loader(settings.batch_size, shuffle=True, seed=settings.seed + epoch)):
                if position < taken:
                    continue  # taken before the run was interrupted
                batch = to_device(batch, device)
                with autocast_for(device, autocast_dtype):
                    loss = loss_fn(model, batch)
                loss.backward()
                if settings.grad_clip:
                    torch.nn.utils.clip_grad_norm_(trained, settings.grad_clip)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                loss_value = float(loss.detach())
                progress.advance(status=f"loss {loss_value:.3f}")
                checkpoint(step)
                if step >= total:
                    break
            epoch, taken = epoch + 1, 0
    model.eval()
    return TrainResult(steps=step, steps_per_epoch=per_epoch, seconds=time.perf_counter() - start, final_loss=loss_value)
