"""`bench attack-search`: the learning rate of a training attack that brings back the most of an entry's concept,
searched with a declared number of trials (Optuna), chosen on validation examples."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.arguments import add_run_flags, config_from_args, out


def lr_range(text: str) -> tuple[float, float]:
    """`1e-5:1e-3` → (1e-5, 1e-3)."""
    try:
        low, high = (float(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH learning rates, e.g. 1e-5:1e-3, got {text!r}") from None
    return low, high


def cmd_attack_search(args: argparse.Namespace) -> int:
    from bench.results.attack_search import search_attack
    from bench.results.attack_search_pages import write_search

    cfg = config_from_args(args)
    low, high = args.lr_range or (cfg.relearn_lr / 10, cfg.relearn_lr * 10)

    def report(trial) -> None:
        where = "nothing within the bound" if trial.step is None else f"{trial.recovered:.3f} at step {trial.step}"
        out.print(f"trial {trial.number}: lr {trial.lr:.3g} → recovered {where} (validation)")

    search = search_attack(cfg, args.trials, low, high, on_trial=report)
    folder = Path(args.out) if args.out else Path("attack-searches") / f"{cfg.task}-{cfg.method}-{cfg.attack}-seed{cfg.seed}"
    page = write_search(search, folder)
    best = search.best()
    if best is None:
        out.print("[yellow]no trial recovered anything within the attacker's bound[/]")
    else:
        out.print(f"most recovered: lr [bold]{best.lr:.3g}[/] at step {best.step}: {best.recovered:.3f} on the validation "
                  f"examples (runs {best.run_id} and {best.none_run_id}; their boards report it on the test ones)")
    out.print(f"search: {page}", soft_wrap=True)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("attack-search", help="search a training attack's learning rate for the most recovery "
                                              "(Optuna, a declared trial budget, chosen on validation examples)")
    add_run_flags(p)
    p.add_argument("--trials", type=int, default=8, metavar="N", help="the search's budget: trials (two runs each)")
    p.add_argument("--lr-range", type=lr_range, default=None, metavar="LOW:HIGH",
                   help="learning rates sampled log-uniformly (default: the run's relearn lr ÷ 10 to × 10)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where search.json, effort.png and README.md go (default attack-searches/TASK-METHOD-ATTACK-seedS)")
    p.set_defaults(func=cmd_attack_search)



