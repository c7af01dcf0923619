"""The relearning curve of a run as a PNG: target and mean retain metric over relearning steps."""

from __future__ import annotations

import math
from pathlib import Path

from bench.api.record import Record


def plot_relearning(record: Record, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    target = record.metric_names("target")[0]
    retain = record.averaged_retain_names()
    base = record.stage("base")[0].scores
    relearn = record.stage("relearn")
    steps = [s.step for s in relearn]
    # log(1 + step) on the x axis, as in the aurc definition, labelled with the real step numbers.
    xs = [math.log1p(step) for step in steps]

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    ax.plot(xs, [s.scores[target] for s in relearn], "o-", color="tab:red", label=f"{target} (target)")
    ax.axhline(base[target], color="tab:red", linestyle="--", linewidth=1, label=f"{target} before unlearning")
    if retain:
        ax.plot(xs, [record.retain_mean(s.scores) for s in relearn], "s-", color="tab:blue",
                label=f"retain mean ({len(retain)} metrics)")
        ax.axhline(record.retain_mean(base), color="tab:blue", linestyle="--", linewidth=1, label="retain mean before")
    ax.set_xticks(xs, [str(step) for step in steps])
    ax.set_xlabel("relearning step (log scale)")
    ax.set_ylabel("score")
    s = record.summary
    aurc = "–" if s.aurc is None else f"{s.aurc:.2f}"
    ax.set_title(f"{record.method.name} on {record.task.name} ({record.task.concept}): "
                 f"forgetting {s.forgetting or 0:.2f}, aurc {aurc}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
