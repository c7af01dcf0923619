"""Local toxic-text files: plain lines or JSONL with an optional toxicity filter, errors at file:line."""

import json

import pytest

from bench.errors import DataFormatError
from tasks.toxic_set import read_local


def test_jsonl_texts_are_kept_above_the_threshold_or_when_unscored(tmp_path):
    path = tmp_path / "toxic.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in [{"text": "a", "toxicity": 0.9}, {"text": "b", "toxicity": 0.2},
                                                          {"text": "c"}]) + "\n")
    assert read_local(path, 0.8).texts == ("a", "c")


@pytest.mark.parametrize("line, problem", [("{oops", "not JSON"), ('{"txt": "a"}', "'text' string"),
                                           ('{"text": "a", "toxicity": "high"}', "must be a number")])
def test_a_malformed_line_is_named_by_file_and_line(tmp_path, line, problem):
    path = tmp_path / "toxic.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n\n" + line + "\n")
    with pytest.raises(DataFormatError, match=rf"toxic\.jsonl:3: .*{problem}"):
        read_local(path, 0.8)
