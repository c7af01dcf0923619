"""The controls' names, in one place: the methods that register them (bench.methods.controls), the sweeps that
add them (bench.harness.sweep) and the boards that compare against them (bench.results) all read them here."""

RANDOM_CONTROL = "random"
BASE_CONTROL = "none"
CONTROLS = (RANDOM_CONTROL, BASE_CONTROL)  # what every sweep runs unless told not to
# Run where the sweep names it (a task whose capability comes from pretraining cannot have it).
NEVER_LEARNED_CONTROL = "never-learned"
BUDGET_FREE_CONTROLS = (BASE_CONTROL, NEVER_LEARNED_CONTROL)  # one run per seed controls every budget
# Fine-tuning on the retain data alone, at a weight-editing method's step budget: what the retain term of grad-diff,
# NPO or SimNPO does to the concept without any forget term. Run where the sweep names it.
RETAIN_TUNING_CONTROL = "retain-tuning"
CONTROL_METHODS = (*CONTROLS, NEVER_LEARNED_CONTROL, RETAIN_TUNING_CONTROL)  # every control a board shows
