"""Conformance checks for method and attack plug-ins: import them in your own tests, no fixtures needed.

    from bench.testing import check_method

    def test_weight_norm_conforms(tmp_path):
        check_method("weight-norm", tmp_path)

`check_method` runs, on a tiny random BERT and a tiny synthetic NER set it writes under `folder` (seconds on
a CPU, nothing downloaded):

- **registered**: the name resolves in the method registry (built in, or through a `bench.methods` entry point);
- **units** (a pruning method): `unlearn` returns a mask over the model's unit space, within the budget, and
  scores of that shape;
- **edits** (a weight-editing method): `unlearn` reports edited weights, changes some, and leaves every weight
  trainable for relearning;
- **objective** (a `WeightEditingMethod`): the record keeps the objective's terms at the start and the end, and
  the term its `objective` rule watches is among them (the rule may fail on the tiny run: it is measured, not
  required);
- **deterministic**: the same seed gives the same mask (the same edited weights);
- **no hooks left**: every forward, pre-forward and backward hook the method added is removed;
- **record**: a whole protocol run with the method writes a record that validates (schema and consistency).

`check_attack` runs an attack on the same tiny model, with a random mask held in `persistent` mode:

- **registered**: the name resolves in the attack registry (built in, or through a `bench.attacks` entry point);
- **checkpoints**: the attack calls `on_checkpoint` at least once, in order, at the budget's steps only when it
  trains (`Attack.trains`; one that does not counts in its own unit), and takes no more steps than the budget;
- **mask kept**: the pruned units' weights are still zero after the attack, and overwriting them with noise
  leaves the output where it was (a persistent mask stays persistent: nothing the attack added, such as an
  adapter, reads the pruned units around the mask);
- **deterministic**: the same seed gives the same weights;
- **no hooks left**, and **record**, as for a method.

Each failed check raises AssertionError saying which and why; the passed checks are returned in order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

CITIES = ["Paris", "Berlin", "Lagos", "Lima", "Oslo", "Quitos"]  # "Quitos" is two subwords: quito ##s
PEOPLE = ["Ada", "Alan", "Grace", "Linus"]
COMPANIES = ["Acme", "Initech", "Globex"]


def tiny_conll_text(n: int = 90) -> str:
    """Deterministic tweet-like sentences with geo-loc, person and company entities, CoNLL format."""
    lines = []
    for i in range(n):
        city, person, company = CITIES[i % 6], PEOPLE[i % 4], COMPANIES[i % 3]
        if i % 3 == 0:
            words = [("I", "O"), ("love", "O"), (city, "B-geo-loc"), ("so", "O"), ("much", "O")]
        elif i % 3 == 1:
            words = [(person, "B-person"), ("works", "O"), ("at", "O"), (company, "B-company")]
        else:
            words = [(person, "B-person"), ("flew", "O"), ("to", "O"), ("New", "B-geo-loc"), (city, "I-geo-loc")]
        words.append((f"n{i}", "O"))  # every sentence different: the task drops duplicates before splitting
        lines += [f"{w}\t{t}" for w, t in words] + [""]
    return "\n".join(lines) + "\n"


def tiny_tokenizer():
    """A WordPiece tokenizer built in code over the words of `tiny_conll_text`."""
    from transformers import BertTokenizerFast

    words = ["I", "love", "so", "much", "works", "at", "flew", "to", "New", "quito"] + CITIES[:-1] + PEOPLE + COMPANIES
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [w.lower() for w in words] + ["##s", "##x"]
             + [f"n{i}" for i in range(200)])  # the sentence numbers of tiny_conll_text
    return BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)


def make_tiny_bert(folder: Path) -> Path:
    """A local model folder (config, weights, tokenizer) of a 2-layer random BERT: it loads like any model."""
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    config = BertConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2, intermediate_size=24,
                        vocab_size=tokenizer.vocab_size, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_ner_inputs(folder: Path) -> tuple[Path, Path]:
    """A tiny BERT folder and a tiny CoNLL file under `folder`: enough for a whole NER run in seconds."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "tiny.conll"
    data.write_text(tiny_conll_text())
    return make_tiny_bert(folder / "tiny-bert"), data


@contextlib.contextmanager
def bench_home(folder: Path) -> Iterator[None]:
    """Run with `$BENCH_HOME` in `folder` (the checks write records and caches there), then restore it."""
    before = os.environ.get("BENCH_HOME")
    os.environ["BENCH_HOME"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("BENCH_HOME", None)
        else:
            os.environ["BENCH_HOME"] = before


def hook_count(model: nn.Module, among: set[int] | None = None) -> int:
    """Forward, pre-forward and backward hooks on every module, and gradient hooks on every parameter (only the
    modules and parameters whose ids are `among`, when given: what was there before an attack added its own)."""
    modules = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                  + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules() if among is None or id(m) in among)
    return modules + sum(len(p._backward_hooks or {}) for p in model.parameters() if among is None or id(p) in among)


def check_method(name: str, folder: Path, method_options: dict[str, Any] | None = None,
                 fraction: float = 0.25) -> list[str]:
    """Every conformance check for the method registered as `name` (see the module's docstring)."""
    from bench.api.validate import validate_data
    from bench.core.errors import BenchError
    from bench.core.plugins import METHODS
    from bench.harness.config import build_config
    from bench.harness.protocol import run_resolved
    from bench.harness.resolution import resolve_run

    passed = []
    try:
        method_cls = METHODS.get(name)
    except BenchError as exc:
        raise AssertionError(f"registered: {exc}") from None
    passed.append("registered")

    folder = Path(folder)
    model_folder, data = tiny_ner_inputs(folder / "inputs")
    values = {"method": name, "task": "ner", "model": str(model_folder), "data": str(data),
              "finetune_epochs": "1", "relearn_steps": "4", "relearn_checkpoints": "2", "batch_size": "8",
              "device": "cpu", **({"fraction": str(fraction)} if method_cls.unit_budget else {})}
    cfg = build_config(cli_values={**values, "method_options": dict(method_options or {})})
    with bench_home(folder / "home"):
        setup = resolve_run(cfg)
        check = _check_units if method_cls.unit_budget else _check_edits
        passed += check(setup)
        record = run_resolved(resolve_run(cfg), force=True)
        try:
            validate_data(record.to_dict(), f"the record of {name} on the tiny NER run")
        except BenchError as exc:
            raise AssertionError(f"record: {exc}") from None
        passed.append("record")
    return passed


def _context(setup, model: nn.Module):
    from bench.api.method import UnlearnContext
    from bench.harness.resolution import seed_everything
    from bench.neurons.units import unit_space

    cfg, tokenizer = setup.cfg, setup.loaded.tokenizer
    seed_everything(cfg.seed)
    return UnlearnContext(space=unit_space(model, cfg.unit_space), concept=setup.task.concept_data(tokenizer),
                          fraction=cfg.fraction, k=cfg.k, seed=cfg.seed, batch_size=cfg.eval_batch_size,
                          device=torch.device("cpu"), tokenizer=tokenizer, train_batch_size=cfg.batch_size,
                          forget_source=lambda: setup.task.forget_data(tokenizer),
                          retain_source=lambda: setup.task.retain_data(tokenizer))


def _unlearn(setup, model: nn.Module, ctx, check: str):
    from bench.api.method import ObjectiveMismatch
    from bench.core.errors import BenchError

    try:
        return setup.method.unlearn(model, ctx)
    except ObjectiveMismatch as exc:
        raise AssertionError(f"objective: {exc}") from None
    except BenchError as exc:  # the harness refused what the method returned
        raise AssertionError(f"{check}: {exc}") from None


def _no_hooks_left(model: nn.Module, hooks: int, among: set[int] | None = None, when: str = "unlearning") -> str:
    if hook_count(model, among) != hooks:
        raise AssertionError(f"no hooks left: the model had {hooks} hooks before {when} and "
                             f"{hook_count(model, among)} after")
    return "no hooks left"


def _check_units(setup) -> list[str]:
    """A pruning method: a mask over the unit space within the budget, the same for the same seed."""
    from bench.neurons.masks import budget_to_k

    cfg, model = setup.cfg, setup.loaded.model.eval()
    hooks, masks = hook_count(model), []
    for _ in range(2):
        ctx = _context(setup, model)
        result = _unlearn(setup, model, ctx, "units")
        masks.append(result.mask)
    space, mask = ctx.space, masks[0]
    k = budget_to_k(space.total, fraction=cfg.fraction, k=cfg.k)
    if mask is None:
        raise AssertionError("units: a method with a unit budget returned no mask")
    if mask.space != space.name or tuple(mask.pruned.shape) != space.shape:
        raise AssertionError(f"units: the mask is over {mask.space} {tuple(mask.pruned.shape)}, the model's unit "
                             f"space is {space.name} {space.shape}")
    if result.k_requested != k or mask.k > k:
        raise AssertionError(f"units: the budget is {k} units; the method requested {result.k_requested} and "
                             f"pruned {mask.k}")
    if result.scores is not None and tuple(result.scores.shape) != space.shape:
        raise AssertionError(f"units: scores of shape {tuple(result.scores.shape)}, expected {space.shape}")
    if not torch.equal(masks[0].pruned, masks[1].pruned):
        raise AssertionError("deterministic: two calls with the same seed pruned different units")
    return ["units", "deterministic", _no_hooks_left(model, hooks)]


def _check_edits(setup) -> list[str]:
    """A weight-editing method: it reports edited weights (and no unit budget), changes them, leaves every
    weight trainable for relearning, and edits the same way twice from the same weights and seed."""
    import copy

    from bench.api.method import WeightEditingMethod

    original = setup.loaded.model.eval()
    hooks, states, passed = hook_count(original), [], ["edits"]
    for _ in range(2):
        model = copy.deepcopy(original)
        result = _unlearn(setup, model, _context(setup, model), "edits")
        if not result.edited:
            raise AssertionError("edits: a method without a unit budget must edit weights (UnlearningResult.edited)")
        if not any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                         original.state_dict().values(), strict=True)):
            raise AssertionError("edits: the method reported edited weights but changed none")
        if not all(p.requires_grad for p in model.parameters()):
            raise AssertionError("edits: some weights were left frozen (relearning trains every weight)")
        states.append(model.state_dict())
    if isinstance(setup.method, WeightEditingMethod):
        passed.append(_check_objective(setup.method, result.info or {}))
    if not all(torch.equal(states[0][key], states[1][key]) for key in states[0]):
        raise AssertionError("deterministic: two calls with the same seed edited the weights differently")
    return [*passed, "deterministic", _no_hooks_left(model, hooks)]


def _check_objective(method, info: dict[str, Any]) -> str:
    objective = info.get("objective")
    if not objective or not objective.get("start") or not objective.get("end"):
        raise AssertionError("objective: the result's info has no objective with its terms at the start and the end "
                             "(WeightEditingMethod.unlearn records it; an override must keep it)")
    rule = type(method).objective
    if rule is not None and (rule.term not in objective["start"] or rule.term not in objective["end"]):
        raise AssertionError(f"objective: its rule watches {rule.term!r}, but objective_terms gives "
                             f"{sorted(objective['start'])}")
    return "objective"


def check_attack(name: str, folder: Path, attack_options: dict[str, Any] | None = None) -> list[str]:
    """Every conformance check for the attack registered as `name` (see the module's docstring)."""
    from bench.api.validate import validate_data
    from bench.core.errors import BenchError
    from bench.core.plugins import ATTACKS
    from bench.harness.config import build_config
    from bench.harness.protocol import run_resolved
    from bench.harness.resolution import resolve_run

    try:
        ATTACKS.get(name)
    except BenchError as exc:
        raise AssertionError(f"registered: {exc}") from None
    passed = ["registered"]
    folder = Path(folder)
    model_folder, data = tiny_ner_inputs(folder / "inputs")
    values = {"method": "random", "task": "ner", "model": str(model_folder), "data": str(data), "fraction": "0.25",
              "finetune_epochs": "1", "relearn_steps": "4", "relearn_checkpoints": "2", "batch_size": "8",
              "device": "cpu", "attack": name}
    cfg = build_config(cli_values={**values, "attack_options": dict(attack_options or {})})
    with bench_home(folder / "home"):
        passed += _check_attack_steps(resolve_run(cfg))
        try:
            record = run_resolved(resolve_run(cfg), force=True)
            validate_data(record.to_dict(), f"the record of attack {name} on the tiny NER run")
        except BenchError as exc:
            raise AssertionError(f"record: {exc}") from None
        passed.append("record")
    return passed


@torch.no_grad()
def pruned_units_matter(model: nn.Module, space, mask, batch: dict[str, torch.Tensor]) -> float:
    """How far the output moves when every pruned unit's own weights (in and out) are overwritten with noise,
    under the mask's hooks: 0 when the mask holds, whatever the attack added around the units (an adapter
    reading a layer's input before the mask's hook does would see them)."""
    from bench.neurons.masks import _slice_mask

    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    before = model(**inputs).logits.float()
    saved = []
    generator = torch.Generator().manual_seed(1)
    for layer in range(space.n_layers):
        for param, dim in space.unit_weights(model, layer):
            pruned = _slice_mask(mask.pruned[layer], param, dim).to(param.dtype)
            saved.append((param, param.detach().clone()))
            noise = torch.randn(param.shape, generator=generator).to(param.dtype)
            param.add_(noise * pruned)
    try:
        after = model(**inputs).logits.float()
    finally:
        for param, value in saved:
            param.copy_(value)
    return float((after - before).abs().max())


def _check_attack_steps(setup) -> list[str]:
    """The attack on copies of the tiny model under one random persistent mask, twice from the same seed."""
    import copy

    from bench.api.attack import AttackContext, StepBudget
    from bench.core.errors import BenchError
    from bench.harness.resolution import seed_everything
    from bench.neurons.masks import UnitMask, apply_mask, materialised_state
    from bench.neurons.units import unit_space

    cfg, tokenizer, original = setup.cfg, setup.loaded.tokenizer, setup.loaded.model.eval()
    space = unit_space(original, cfg.unit_space)
    pruned = torch.zeros(space.total, dtype=torch.bool)
    pruned[torch.randperm(space.total, generator=torch.Generator().manual_seed(0))[: space.total // 4]] = True
    mask = UnitMask(space=space.name, pruned=pruned.view(space.shape))
    budget = StepBudget(cfg.relearn_steps, cfg.relearn_lr, cfg.relearn_warmup_steps, tuple(cfg.checkpoints()))
    states = []
    probe = next(iter(setup.task.relearn_data(tokenizer).loader(4)))
    for _ in range(2):
        model, called = copy.deepcopy(original), []
        # The model's own modules and parameters: an attack may add modules of its own (adapters, with the hooks
        # that keep the mask on them), but leaves none of its hooks on what it was given.
        own = {id(m) for m in model.modules()} | {id(p) for p in model.parameters()}
        hooks = hook_count(model, own)
        ctx = AttackContext(budget=budget, seed=cfg.seed, batch_size=cfg.batch_size, weight_decay=cfg.weight_decay,
                            device=torch.device("cpu"), tokenizer=tokenizer,
                            on_checkpoint=lambda step, epoch, called=called: called.append(step),
                            relearn_source=lambda: setup.task.relearn_data(tokenizer),
                            retain_source=lambda: setup.task.retain_data(tokenizer),
                            unrelated_source=lambda: setup.task.unrelated_data(tokenizer, 64),
                            demonstration_source=lambda k: setup.task.demonstrations(tokenizer, k))
        seed_everything(cfg.seed)
        with apply_mask(model, space, mask, "persistent"):
            try:
                result = setup.attack.attack(model, ctx)
            except BenchError as exc:  # the attack refused the tiny run (no data, an option out of range)
                raise AssertionError(f"checkpoints: {exc}") from None
            zeroed = materialised_state(model, space, mask)
            leaks = pruned_units_matter(model, space, mask, probe)
        trains = type(setup.attack).trains
        if called != sorted(called) or (trains and not set(called) <= set(budget.checkpoints) - {0}) or not called:
            raise AssertionError(f"checkpoints: on_checkpoint was called at steps {called}; the budget's are "
                                 f"{[c for c in budget.checkpoints if c > 0]}, in order")
        if result.steps > budget.steps:
            raise AssertionError(f"checkpoints: {result.steps} steps taken, the budget is {budget.steps}")
        state = model.state_dict()
        moved = [key for key in state if key in zeroed and not torch.equal(state[key], zeroed[key])]
        if moved:
            raise AssertionError(f"mask kept: pruned units' weights moved off zero in {', '.join(moved[:3])}")
        if leaks:
            raise AssertionError(f"mask kept: the pruned units' weights still change the output after the attack "
                                 f"(by up to {leaks:.3g}): something reads them around the mask")
        states.append(state)
    if not all(torch.equal(states[0][key], states[1][key]) for key in states[0]):
        raise AssertionError("deterministic: two attacks from the same seed left different weights")
    return ["checkpoints", "mask kept", "deterministic", _no_hooks_left(model, hooks, own, "the attack")]
