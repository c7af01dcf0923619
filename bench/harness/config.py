"""The one typed configuration of a run, built from defaults < profile < TOML file < CLI flags.

The CLI only builds a RunConfig and calls `bench.harness.protocol.run(cfg)`, exactly what Python users call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.core.errors import BenchError
from bench.core.options import coerce

Profile = Literal["quick", "paper"]

# RunConfig's defaults are the paper's settings (Lo, Cohen & Barez 2024: AdamW lr 2e-5, weight decay 0.01,
# batch 8, 3 fine-tune epochs, prune half of the units). Profiles adjust compute on top of them, and a task
# may refine a profile for what its data needs (Task.profile_overrides).
# The attacker's budget is a number of optimizer steps, whatever the size of its data (the data cycles):
# a budget in epochs would make a task with little relearning data look resistant because it was hardly
# attacked (the first leaderboard relearned CBT for 6 steps and toxicity for 10).
PROFILES: dict[str, dict[str, Any]] = {
    # CPU-sized: 256 steps, evaluated at 4, 16, 64 and 256.
    "quick": {"relearn_steps": 256, "relearn_checkpoints": (4, 16, 64, 256)},
    # A GPU affords four times the attack (the paper retrains 8 epochs).
    "paper": {"relearn_steps": 1024, "relearn_checkpoints": (4, 16, 64, 256, 1024)},
}


def _help(text: str) -> Any:
    return field(default=None, metadata={"help": text})


@dataclass(frozen=True)
class RunConfig:
    """Everything one protocol run depends on. Its hash (with model and data fingerprints) is the run id."""

    method: str = field(default="random", metadata={"help": "unlearning method (see `bench list`)"})
    task: str = field(default="ner", metadata={"help": "task (see `bench list`)"})
    model: str | None = _help("offline model name, local folder or hub id (default: the task's offline model)")
    concept: str | None = _help("the concept to remove (default: the task's, e.g. the location type for ner)")
    data: str | None = _help("task data: local file/folder, hub dataset id, or an offline set by name (ner: silver, "
                              "the default, or wnut16); default: the task's offline data")
    profile: Profile | None = _help("quick (default without a GPU) or paper (default with one)")
    unit_space: Literal["mlp", "hidden"] = field(default="mlp", metadata={"help": "units: MLP neurons or block-output dims"})
    fraction: float | None = field(default=0.5, metadata={"help": "prune this fraction of all units, in (0, 1] "
                                                                    "(pruning methods; a weight-editing method's budget is its steps)"})
    k: int | None = _help("prune exactly k units (instead of --fraction)")
    mask_mode: Literal["persistent", "regrow"] = field(
        default="persistent", metadata={"help": "persistent: pruned units stay dead while relearning; regrow: silenced once, free to relearn"}
    )
    seed: int = field(default=0, metadata={"help": "seed for everything (data order, heads, dropout, random methods)"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:1, ..."})
    finetune_epochs: float = field(default=3.0, metadata={"help": "task preparation (fine-tuning) epochs"})
    finetune_lr: float = field(default=2e-5, metadata={"help": "task preparation learning rate"})
    relearn_steps: int = field(default=256, metadata={"help": "the attacker's budget: relearning optimizer steps "
                                                              "(its data cycles; 0: no relearning)"})
    relearn_lr: float = field(default=2e-5, metadata={"help": "relearning learning rate (constant after the warmup)"})
    relearn_warmup_steps: int = field(default=4, metadata={"help": "relearning warmup steps (linear from 0)"})
    relearn_checkpoints: tuple[int, ...] = field(default=(4, 16, 64, 256), metadata={
        "help": "relearning steps at which to evaluate (0, the unlearned model, and the last step always)"})
    attack: str = field(default="finetune", metadata={"help": "the relearning attack (see `bench list`); the relearn "
                                                              "settings are its step budget"})
    batch_size: int = field(default=8, metadata={"help": "training batch size"})
    eval_batch_size: int = field(default=64, metadata={"help": "evaluation / activation batch size"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    warmup_ratio: float = field(default=0.1, metadata={"help": "linear-schedule warmup fraction"})
    max_eval_examples: int | None = _help("evaluate on at most this many examples")
    analyze: bool = field(default=False, metadata={"help": "record concept saliency and HATs at every stage "
                                                           "and write the analysis report"})
    method_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "the method's own options"})
    task_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "the task's own options"})
    attack_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "the attack's own options"})

    def __post_init__(self) -> None:
        if self.fraction is not None and self.k is not None:
            raise BenchError("give one pruning budget: --fraction or --k, not both")
        if self.fraction is not None and not 0.0 < self.fraction <= 1.0:
            raise BenchError(f"--fraction must be in (0, 1], got {self.fraction}")
        if self.k is not None and self.k < 1:
            raise BenchError(f"--k must be at least 1, got {self.k}")
        for name in ("batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise BenchError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("finetune_epochs", "relearn_steps", "relearn_warmup_steps"):
            if getattr(self, name) < 0:
                raise BenchError(f"--{name.replace('_', '-')} must not be negative")
        if any(c < 1 for c in self.relearn_checkpoints):
            raise BenchError(f"--relearn-checkpoints must be positive steps, got {list(self.relearn_checkpoints)}")

    def checkpoints(self) -> list[int]:
        """The relearning steps evaluated: 0, the declared checkpoints within the budget, and the last step."""
        return sorted({0, self.relearn_steps, *(c for c in self.relearn_checkpoints if c <= self.relearn_steps)})

    def to_dict(self) -> dict[str, Any]:
        """As JSON has it (tuples are lists), so a stored record's config compares equal to its run's."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def content_hash(self, *extra: Any) -> str:
        payload = json.dumps([self.to_dict(), *extra], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
OPTION_TABLES = ("method_options", "task_options", "attack_options")  # a plug-in's own options: key = value tables
HINTS = typing.get_type_hints(RunConfig)


def coerce_fields(raw: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise BenchError(f"{where}: unknown setting(s) {', '.join(map(repr, unknown))}; valid: {', '.join(FIELDS)}")
    out = {}
    for name, value in raw.items():
        if name in OPTION_TABLES:
            if not isinstance(value, dict):
                raise BenchError(f"{where}: {name} must be a table of key = value")
            out[name] = dict(value)
        else:
            out[name] = coerce(value, HINTS[name], f"{where}: {name}")
    return out


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A TOML file's table; a missing file or a syntax error is a BenchError naming the file (and line)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise BenchError(f"{what} {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{path}: {exc}") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    return coerce_fields(read_toml(path, "config file"), str(path))


def build_config(
    file_values: dict[str, Any] | None = None,
    cli_values: dict[str, Any] | None = None,
    *,
    has_gpu: bool = False,
) -> RunConfig:
    """Precedence: RunConfig defaults < profile (global, then the task's and the method's refinements) < file
    < CLI."""
    from bench.core.plugins import METHODS, TASKS

    explicit = {**(file_values or {}), **coerce_fields(cli_values or {}, "command line")}
    profile = explicit.get("profile") or ("paper" if has_gpu else "quick")
    task_cls = TASKS.get(explicit.get("task", FIELDS["task"].default))
    method_cls = METHODS.get(explicit.get("method", FIELDS["method"].default))
    refinement = dict(task_cls.profile_overrides.get(profile, {}))
    refined_task_options = refinement.pop("task_options", {})  # e.g. fewer samples per evaluation on CPU
    values: dict[str, Any] = {**PROFILES[profile], **refinement, **explicit}
    values["profile"] = profile
    if not method_cls.unit_budget:
        # Its budget is in its own options (steps, learning rate): a profile's unit budget does not apply to it,
        # and one given explicitly stays, for the run to refuse (bench.harness.protocol.check_budget_kind).
        values["fraction"] = explicit.get("fraction")
        values["k"] = explicit.get("k")
    # One budget: an explicit --k replaces the profile's fraction, and the other way round.
    elif "k" in explicit and "fraction" not in explicit:
        values["fraction"] = None
    if "fraction" in explicit and "k" not in explicit:
        values["k"] = None
    merged_options = {}
    for key in OPTION_TABLES:
        base = {"task_options": refined_task_options, "method_options": dict(method_cls.profile_options.get(profile, {})),
                "attack_options": {}}[key]
        merged_options[key] = {**base, **(file_values or {}).get(key, {}), **(cli_values or {}).get(key, {})}
    values.update(merged_options)
    return RunConfig(**values)
