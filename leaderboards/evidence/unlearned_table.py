"""What an unlearning step removed and what it damaged, per entry, from validated records: the table behind
the README's ranker comparison.

    python leaderboards/evidence/unlearned_table.py leaderboards/evidence/rankers/records

Per task and entry (method label), mean ± 95% CI half-width over seeds (Student's t) of: forgetting of the
target metric, the other target metrics' relative drop, the perplexity ratio unlearned / base, the mean
drop of the retain accuracies, and where the pruned units sit (the largest share of them in one layer).
The seed intervals do not include evaluation-sampling error; as a guide to it, the last column gives the
binomial 95% half-width of a proportion target at the base model (CBT accuracy, toxic share), where the
record says on how many examples it was measured.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from pathlib import Path

from bench.api.validate import read_records
from bench.results.leaderboard import method_label
from bench.results.statistics import stat


def fmt(values: list[float | None], digits: int = 3) -> str:
    s = stat(values)
    if s.mean is None:
        return "–"
    return f"{s.mean:.{digits}f} ± {s.ci95:.{digits}f}" if s.n > 1 else f"{s.mean:.{digits}f}"


def base_resolution(record) -> str:
    """Binomial 95% half-width of the base model's proportion target, on the record's evaluation size."""
    data, base = record.task.data, record.stage("base")[0].scores
    if record.task.name == "cbt":
        name = f"accuracy/{record.task.concept}"
        n, p = data["eval_questions_per_category"][record.task.concept], base[name]
    elif record.task.name == "toxicity":
        name, n, p = "toxic_pct", data["samples"], base["toxic_pct"] / 100
    else:
        return "–"
    half = 1.96 * math.sqrt(p * (1 - p) / n)
    return f"{name} {p:.3f} ± {half:.3f} (n = {n})"


def main(folder: str) -> None:
    rows: dict[tuple[str, str], list] = defaultdict(list)
    for record in read_records(Path(folder)):
        rows[(f"{record.task.name} ({record.task.concept})", method_label(record))].append(record)
    print("| task | entry | seeds | forgetting | other targets' drop | perplexity × | retain accuracy drop | "
          "most units in one layer | base target, evaluation ± (seed 0) |")
    print("|---|---|---|---:|---:|---:|---:|---|---|")
    for (task, label), records in sorted(rows.items()):
        records.sort(key=lambda r: r.config["seed"])
        forgetting, others, ppl, retain, layers = [], [], [], [], []
        for r in records:
            base, unlearned = r.stage("base")[0].scores, r.stage("unlearned")[0].scores
            targets = r.metric_names("target")
            forgetting.append(r.summary.forgetting)
            drops = [(base[t] - unlearned[t]) / base[t] for t in targets[1:] if base[t]]
            others.append(sum(drops) / len(drops) if drops else None)
            ppl.append(unlearned["perplexity"] / base["perplexity"] if "perplexity" in base else None)
            accuracies = [n for n in r.averaged_retain_names() if base[n]]
            retain.append(sum((base[n] - unlearned[n]) / base[n] for n in accuracies) / len(accuracies)
                          if accuracies else None)
            per_layer = r.mask.per_layer
            top = max(range(len(per_layer)), key=per_layer.__getitem__)
            layers.append(f"{per_layer[top]}/{r.mask.k} in layer {top}")
        k = ", ".join(sorted({f"{r.mask.k}/{r.mask.k if r.mask.k_requested is None else r.mask.k_requested}" for r in records}))
        print(f"| {task} | {label} (k {k}) | {len(records)} | {fmt(forgetting)} | {fmt(others)} | {fmt(ppl, 2)} | "
              f"{fmt(retain)} | {'; '.join(layers)} | {base_resolution(records[0])} |")


if __name__ == "__main__":
    main(sys.argv[1])
