"""The README's ranker comparison ("Choosing the default ranker") is what its script computes from the evidence
records: every number of its table, and the base resolutions the paragraph under it quotes."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = {"NER": "ner (geo-loc)", "CBT": "cbt (V)", "toxicity": "toxicity (toxicity)"}
ENTRIES = {"random": "random", "`raw` (Eq. 1)": "concept-neurons [raw]", "`standardized`": "concept-neurons [standardized]"}
NUMBER = re.compile(r"[−-]?\d+\.\d+")


def numbers(text: str) -> list[float]:
    return [float(n.replace("−", "-")) for n in NUMBER.findall(text)]


def script_rows() -> dict[tuple[str, str], list[str]]:
    out = subprocess.run([sys.executable, str(ROOT / "leaderboards/evidence/unlearned_table.py"),
                          str(ROOT / "leaderboards/evidence/rankers/records")], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    rows = {}
    for line in out.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[(cells[0], cells[1].split(" (k ")[0])] = cells
    return rows


def test_the_ranker_table_is_what_the_evidence_records_give():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Choosing the default ranker", 1)[1].split("###", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| task")]
    rows, task = script_rows(), None
    assert len(table) == 9
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        task = next(v for k, v in TASKS.items() if cells[0].startswith(k)) if cells[0] else task
        mine = rows[(task, ENTRIES[cells[1]])]
        # forgetting, retain drop and perplexity ratio: README columns 2-4, the script's 3, 6 and 5. A row without
        # "±" is one whose seeds were identical (the script's ± 0.000).
        for shown, computed in ((cells[2], mine[3]), (cells[3], mine[6]), (cells[4], mine[5])):
            if shown == "–":
                assert computed == "–"
                continue
            expected = numbers(computed)
            assert numbers(shown) == (expected if "±" in shown else expected[:1]), (line, computed)
            assert "±" in shown or expected[1:] in ([], [0.0])
    resolutions = " ".join(cells[8] for cells in rows.values())
    for quoted in ("0.917 ± 0.070", "0.274 ± 0.039"):
        assert quoted in resolutions
    assert "0.917 ± 0.070 (binomial 95%, 60 questions)" in section and "27.4% ± 3.9% (500 completions)" in section
