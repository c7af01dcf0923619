"""What the repository says about its boards is what its records give: the committed pages are what the committed
records build, the figures in leaderboards/README.md are generated from the committed leaderboard.json, and
what it says of the NER rerun (bit-identical columns) holds for every pair of runs it names."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.results.findings import findings, generated_section

ROOT = Path(__file__).resolve().parents[1]
BOARDS = ROOT / "leaderboards"


def test_the_readme_of_the_leaderboards_states_what_the_committed_leaderboard_json_gives():
    data = json.loads((BOARDS / "current" / "leaderboard.json").read_text())
    section = generated_section((BOARDS / "README.md").read_text())
    assert section is not None, "leaderboards/README.md lost its generated section"
    assert section == findings(data), "run `bench leaderboard build ... --readme leaderboards/README.md`"


def test_every_page_the_readme_of_the_leaderboards_links_to_is_there():
    # Its links are relative to the README, one folder above the pages it names.
    section = generated_section((BOARDS / "README.md").read_text())
    links = re.findall(r"\[page\]\((.+?\.md)\)", section)
    assert links, "the generated section links no page"
    assert [link for link in links if not (BOARDS / link).is_file()] == []


@pytest.mark.e2e
def test_the_committed_pages_are_what_the_committed_records_build(tmp_path, capsys):
    # Built on the test part (the defenders' configurations were chosen on the validation part), as its JSON says.
    examples = "test" if '"examples": "test"' in (BOARDS / "current" / "leaderboard.json").read_text() else "all"
    assert main(["leaderboard", "build", "--records", str(BOARDS / "records"), "--out", str(tmp_path),
                 "--examples", examples, "--scope", str(BOARDS / "scope.toml")]) == 0
    built = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".md", ".json"))
    committed = sorted(p.name for p in (BOARDS / "current").iterdir() if p.suffix in (".md", ".json"))
    assert built == committed
    for name in built:  # the PNGs depend on the fonts of the machine; the text and every number do not
        assert (tmp_path / name).read_text() == (BOARDS / "current" / name).read_text(), name


EVIDENCE_PAGES = sorted(p.parent for p in (BOARDS / "evidence").glob("*/page/leaderboard.json"))


@pytest.mark.e2e
@pytest.mark.parametrize("page", EVIDENCE_PAGES, ids=[p.parent.name for p in EVIDENCE_PAGES])
def test_an_evidence_page_is_what_its_records_build(page, tmp_path, capsys):
    # A board reported on the test part says so in its JSON; it is rebuilt the same way.
    # A scope file beside the records says what of its grid the page leaves out; it is rebuilt with it.
    examples = "test" if '"examples": "test"' in (page / "leaderboard.json").read_text() else "all"
    scope = page.parent / "scope.toml"
    assert main(["leaderboard", "build", "--records", str(page.parent / "records"), "--out", str(tmp_path),
                 "--examples", examples, *(["--scope", str(scope)] if scope.exists() else [])]) == 0
    built = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".md", ".json"))
    assert built == sorted(p.name for p in page.iterdir() if p.suffix in (".md", ".json"))
    for name in built:
        assert (tmp_path / name).read_text() == (page / name).read_text(), name


def _columns(path: Path) -> dict[str, np.ndarray]:
    with np.load(path.with_suffix(".npz")) as arrays:
        return dict(arrays)


def test_the_ner_runs_of_task_version_4_reproduce_their_version_3_twins_bit_for_bit():
    # Version 4 changed only the never-learned control's preparation: every other method's run at the same seed,
    # on the same CPU, must give the same per-example columns (the leaderboards README says so).
    runs: dict[tuple[str, int, int], Path] = {}
    for path in (BOARDS / "archive" / "2026-12-before-rebuild" / "records" / "ner").rglob("*.json"):
        record = json.loads(path.read_text())
        if record["provenance"]["device"]["type"] == "cpu":
            runs[(record["method"]["name"], record["config"]["seed"], record["task"]["version"])] = path
    twins = [(runs[(m, s, 3)], path) for (m, s, v), path in runs.items()
             if v == 4 and m != "never-learned" and (m, s, 3) in runs]
    assert twins, "no NER run of task version 4 has a version-3 twin"
    for old, new in twins:
        a, b = _columns(old), _columns(new)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), new.name
