"""What `bench attack-search` writes: search.json (every trial), effort.png (the attacker-effort curve) and a
README with the trials in a table."""

from __future__ import annotations

from pathlib import Path

from bench.core.files import write_json_atomic, write_text_atomic
from bench.results.attack_search import Search, search_json


def plot_effort(search: Search) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from bench.results.pages import _figure_bytes

    fig, (ax_e, ax_lr) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    numbers = [t.number + 1 for t in search.trials]
    ax_e.plot(numbers, search.effort(), marker="o", drawstyle="steps-post")
    ax_e.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_e.set_xlabel("trials")
    ax_e.set_ylabel("most recovered so far (validation)")
    ax_e.set_title("attacker effort", fontsize=10)
    for t in search.trials:
        ax_lr.scatter(t.lr, t.recovered, color="C0" if t.step is not None else "0.6", s=18)
    ax_lr.set_xscale("log")
    ax_lr.set_xlabel("learning rate")
    ax_lr.set_ylabel("recovered within the bound (validation)")
    ax_lr.set_title("each trial (grey: nothing within the bound)", fontsize=10)
    for ax in (ax_e, ax_lr):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _figure_bytes(fig, "png")


def search_page(search: Search) -> str:
    cfg = search.config
    best = search.best()
    lines = [f"# Attack search: {cfg['attack']} on {cfg['method']} ({cfg['task']}, seed {cfg['seed']})", "",
             f"{len(search.trials)} trials, learning rates log-uniform in [{search.low:g}, {search.high:g}] (Optuna's "
             f"TPE sampler, seeded by the run's seed); each trial is the entry and the none control attacked at that rate "
             f"for {cfg['relearn_steps']} steps. A trial's value is the most recovered at a checkpoint within the "
             "attacker's bound, on the validation third of the evaluation examples; the test two thirds were not read, "
             "so a board built from these records reports the worst case on them.", "",
             "![attacker effort](effort.png)", "",
             "| trial | lr | recovered (validation) | at step | beyond the bound at | runs | seconds |",
             "|---:|---:|---:|---:|---|---|---:|"]
    for t in search.trials:
        lines.append(f"| {t.number} | {t.lr:.3g} | {t.recovered:.3f} | {'–' if t.step is None else t.step} | "
                     f"{', '.join(map(str, t.inadmissible)) or '–'} | {t.run_id[:8]} {t.none_run_id[:8]} | {t.seconds:,.0f} |")
    lines += ["", "Most recovered: " + ("nothing within the bound." if best is None else
                                         f"lr {best.lr:.3g} at step {best.step}, {best.recovered:.3f} (trial {best.number}).")]
    return "\n".join(lines) + "\n"


def write_search(search: Search, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "search.json", search_json(search))
    tmp = folder / "effort.png.tmp"
    tmp.write_bytes(plot_effort(search))
    tmp.replace(folder / "effort.png")
    write_text_atomic(folder / "README.md", search_page(search))
    return folder / "README.md"
