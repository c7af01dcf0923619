"""A store that concurrent runs cannot corrupt: the index is derived from the run folders and can be rebuilt,
and runs started together on one BENCH_HOME prepare a model and evaluate its base once."""

import os
import shutil
import subprocess
import sys

from bench.api.record import write_record
from bench.api.validate import validate_file
from bench.cli import main
from bench.harness.store import index, list_runs, reindex, run_folder, runs_dir
from tests.made_records import made_record


def stored(record):
    path = run_folder(record.run_id) / "record.json"
    write_record(record, path)
    return path


def test_the_index_is_rebuilt_from_the_run_folders():
    records = [made_record("random", seed) for seed in range(3)]
    for record in records:
        index(record, stored(record))
    shutil.rmtree(run_folder(records[0].run_id))  # a folder removed by hand ...
    orphan = made_record("concept-neurons", 0)
    stored(orphan)  # ... and a record the index never saw (a run killed between its two writes)
    assert reindex() == 3
    assert sorted(r.run_id for r in list_runs()) == sorted([records[1].run_id, records[2].run_id, orphan.run_id])


def test_bench_runs_reindex_leaves_out_an_unreadable_folder_and_names_it(capsys):
    index(made_record("random", 0), stored(made_record("random", 0)))
    broken = runs_dir() / "0123456789abcdef" / "record.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    assert main(["runs", "--reindex"]) == 0
    out, err = capsys.readouterr()
    assert "index rebuilt from the run folders: 1 runs" in " ".join(out.split())
    assert "0123456789abcdef" in err and "not valid JSON" in " ".join(err.split())


def test_two_runs_started_together_prepare_once_and_both_record(tmp_path, tiny_bert_folder, tiny_conll):
    """Two processes, one BENCH_HOME, two budgets of one configuration: they share the preparation and the
    base evaluation. Each must be computed once (the second waits on the first's lock), both records must
    validate, and the index must match the folders."""
    args = ["--data", str(tiny_conll), "--model", str(tiny_bert_folder), "--finetune-epochs", "2",
            "--relearn-steps", "4", "--relearn-checkpoints", "2", "--batch-size", "8", "--method", "random"]
    env = {**os.environ, "BENCH_PROGRESS": "0"}
    runs = [subprocess.Popen([sys.executable, "-m", "bench", "run", *args, "--fraction", fraction], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for fraction in ("0.1", "0.2")]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-1500:] for _, err in outputs]
    logs = " ".join(out + err for out, err in outputs)
    assert logs.count("prepared model from cache") == 1  # the other one prepared it
    assert logs.count("evaluated before") == 1  # and the other one evaluated the base model
    home = runs_dir().parent
    assert len([p for p in (home / "prepared").iterdir() if p.is_dir()]) == 1
    folders = sorted(p.parent for p in runs_dir().glob("*/record.json"))
    assert len(folders) == 2
    for folder in folders:
        validate_file(folder / "record.json")
    assert sorted(r.run_id for r in list_runs()) == sorted(p.name for p in folders)
