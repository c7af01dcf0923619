"""An outside author's methods: no fork of relearn-bench, just an entry point to each class."""

import copy
from dataclasses import dataclass

import torch

from bench import PruningMethod, StepBudget, WeightEditingMethod


class LastLayersPruning(PruningMethod):
    """Prune the deepest layers' units first (an example plug-in)."""

    description = "Prune the deepest layers' units first (example third-party plug-in)."
    version = 1

    def score_units(self, model, ctx):
        layers, width = ctx.space.shape
        return torch.arange(layers, dtype=torch.float32).view(-1, 1).expand(layers, width).clone()


# -- a weight-editing method, one class (docs/extending.md walks through it) ----------------------------------
@dataclass(frozen=True)
class KlAscentOptions(StepBudget):  # steps, lr, batch_size, ... come with StepBudget
    kl_weight: float = 1.0


class KlAscent(WeightEditingMethod):
    """Gradient ascent on the forget set plus the KL divergence from the frozen model on the retain set
    (TOFU's "KL" baseline, Maini et al. 2024):

        L(θ) = −NLL_θ(forget) + w · mean_t KL(p_ref(·|x_<t) ‖ p_θ(·|x_<t))   over the retain targets t
    """

    description = "Gradient ascent plus a KL-to-the-original term on retain data (example third-party plug-in)."
    version = 1
    Options = KlAscentOptions

    def prepare(self, model, ctx):
        self.reference = copy.deepcopy(model).eval().requires_grad_(False)

    def finish(self, model):
        self.reference = None

    def loss(self, model, batch):
        forget, retain = batch["forget"], batch["retain"]
        ascent = -model(**forget).loss  # the model's own loss on the forget targets (shifted for a causal LM)
        inputs = {"input_ids": retain["input_ids"], "attention_mask": retain["attention_mask"]}
        log_p = torch.log_softmax(model(**inputs).logits.float(), dim=-1)
        with torch.no_grad():
            log_ref = torch.log_softmax(self.reference(**inputs).logits.float(), dim=-1)
        counted = retain["labels"] != -100
        kl = (log_ref.exp() * (log_ref - log_p)).sum(dim=-1)[counted].mean()
        return ascent + self.options.kl_weight * kl
