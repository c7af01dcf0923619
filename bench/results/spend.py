"""What the defender and the attacker spent, as the records measured it: the page's cost cells read it here."""

from __future__ import annotations

from bench.api.record import Record


def defender_seconds(record: Record) -> float | None:
    """The unlearning's own wall time (`unlearn_first` where this run loaded a kept unlearned model)."""
    return record.timings.get("unlearn_first", record.timings.get("unlearn"))


def attacker_seconds(record: Record) -> float | None:
    """The attack's wall time without its checkpoints' evaluations (what it spent attacking, not measuring); step
    0 is the unlearned model's evaluation, made before the attack. None for a run resumed after an interruption:
    its `relearn` time covers only the part after the resume."""
    if "relearn" not in record.timings or "relearn_resumed_at_step" in record.timings:
        return None
    measuring = sum(s.seconds for s in record.stage("relearn") if s.step > 0)
    return max(0.0, record.timings["relearn"] - measuring)


def defender_spend(record: Record, units: int | None) -> str:
    """Optimizer steps × learning rate and the examples it trained on, or the units pruned, or nothing."""
    budget = record.unlearning.budget
    if budget.get("steps") is not None:
        examples = record.method.info.get("forget_examples")
        return f"{budget['steps']} × lr {budget['lr']:g}" + (f" on {examples:,}" if examples else "")
    return f"{units:,} units" if units else "nothing"
