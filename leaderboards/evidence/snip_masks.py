"""What the SNIP family's masks are made of, from the records of snip-family.toml and their run folders.

    python leaderboards/evidence/snip_masks.py leaderboards/evidence/snip-family/records

Per task: each method's budget, how many units it ranked and pruned, its LLM parse counts where it asked
an LLM, and how many of its pruned units it shares with each other method and with the fill order (the
same number of candidates taken by forget-set activation, which is what the withdrawn v1 filled with), and
how many pruned units only the tie order chose (equal scores split by the budget; unscored matches are
equal). The masks and the candidates' forget-set activations are read from the runs' folders
(`explanations.jsonl`), so run this on the machine that ran the sweep.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from bench.api.validate import read_records
from bench.harness.store import run_folder
from bench.methods.snip.pruning import among_equals_at_the_cut
from bench.results.leaderboard import method_label


def pruned_units(record) -> tuple[set[tuple[int, int]], list[tuple[int, int]], int]:
    """A run's pruned candidates, its candidates in forget-activation order (the fill order), and how many of
    the pruned it chose by tie order among equal scores."""
    rows = [json.loads(line) for line in (run_folder(record.run_id) / "explanations.jsonl").read_text().splitlines()]
    pruned = {(r["layer"], r["index"]) for r in rows if r["pruned"]}
    fill_order = [(r["layer"], r["index"]) for r in sorted(rows, key=lambda r: -r["forget_activation"])]
    score = record.method.info["score"]
    ranked = sorted((r for r in rows if r["rank"] is not None), key=lambda r: r["rank"])
    ties = among_equals_at_the_cut([(r["layer"], r["index"]) for r in ranked],
                                   {(r["layer"], r["index"]): r.get(score) for r in ranked}, record.mask.k_requested)
    return pruned, fill_order, ties


def main(folder: str) -> None:
    by_task: dict[str, dict[str, tuple]] = defaultdict(dict)
    for record in read_records(Path(folder)):
        task = f"{record.task.name} ({record.task.concept})"
        by_task[task][record.method.name] = (record, *pruned_units(record))
    print("| task | entry | k requested | ranked | pruned | LLM replies unparsed (first / after retry) | "
          "chosen by tie order | shared with the fill order | shared with the other methods |")
    print("|---|---|---:|---:|---:|---|---:|---:|---|")
    for task, methods in sorted(by_task.items()):
        for name, (record, pruned, fill_order, ties) in sorted(methods.items()):
            info = record.method.info
            parse = (f"{info['unparsed_first_reply']} / {info['unparsed_after_retry']} of {info.get('rated', '?')}"
                     if "unparsed_first_reply" in info else "–")
            fill = len(pruned & set(fill_order[: len(pruned)]))
            others = "; ".join(f"{other}: {len(pruned & p)}" for other, (_, p, _, _) in sorted(methods.items())
                               if other != name)
            print(f"| {task} | {method_label(record)} | {record.mask.k_requested} | {info.get('ranked_units', '–')} | "
                  f"{record.mask.k_pruned} | {parse} | {ties} | {fill}/{len(pruned)} | {others or '–'} |")


if __name__ == "__main__":
    main(sys.argv[1])
