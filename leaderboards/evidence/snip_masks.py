"""What the SNIP family's masks are made of, from the records of snip-family.toml and their run folders.

    python leaderboards/evidence/snip_masks.py leaderboards/evidence/snip-family/records

Per task: each method's budget, how many units it ranked and pruned, its LLM parse counts where it asked
an LLM, and how many of its pruned units it shares with each other method and with the fill order (the
same number of candidates taken by forget-set activation, which is what the withdrawn v1 filled with). The
masks and the candidates' forget-set activations are read from the runs' folders (`explanations.jsonl`),
so run this on the machine that ran the sweep.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from bench.leaderboard import method_label
from bench.store import run_folder
from bench.validate import read_records


def pruned_units(run_id: str) -> tuple[set[tuple[int, int]], list[tuple[int, int]]]:
    """The pruned candidates of a run, and its candidates in forget-activation order (the fill order)."""
    rows = [json.loads(line) for line in (run_folder(run_id) / "explanations.jsonl").read_text().splitlines()]
    pruned = {(r["layer"], r["index"]) for r in rows if r["pruned"]}
    fill_order = [(r["layer"], r["index"]) for r in sorted(rows, key=lambda r: -r["forget_activation"])]
    return pruned, fill_order


def main(folder: str) -> None:
    by_task: dict[str, dict[str, tuple]] = defaultdict(dict)
    for record in read_records(Path(folder)):
        task = f"{record.task['name']} ({record.task['concept']})"
        by_task[task][record.method["name"]] = (record, *pruned_units(record.run_id))
    print("| task | entry | k requested | ranked | pruned | LLM replies unparsed (first / after retry) | "
          "shared with the fill order | shared with the other methods |")
    print("|---|---|---:|---:|---:|---|---:|---|")
    for task, methods in sorted(by_task.items()):
        for name, (record, pruned, fill_order) in sorted(methods.items()):
            info = record.method.get("info", {})
            parse = (f"{info['unparsed_first_reply']} / {info['unparsed_after_retry']} of {info.get('rated', '?')}"
                     if "unparsed_first_reply" in info else "–")
            fill = len(pruned & set(fill_order[: len(pruned)]))
            others = "; ".join(f"{other}: {len(pruned & p)}" for other, (_, p, _) in sorted(methods.items())
                               if other != name)
            print(f"| {task} | {method_label(record)} | {record.mask['k_requested']} | {info.get('ranked_units', '–')} | "
                  f"{record.mask['k_pruned']} | {parse} | {fill}/{len(pruned)} | {others or '–'} |")


if __name__ == "__main__":
    main(sys.argv[1])
