"""Bringing your own model: checkpoints with their own heads, stored dtypes, shards, the hub cache, and the
missing pieces, each loading or failing with a clear error (tiny random models; no hub)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.core.errors import BenchError
from bench.models.loading import HeadSpec, load_model, weights_fingerprint
from bench.testing import tiny_tokenizer
from tests.conftest import needs_assets

LABELS = ("O", "B-geo-loc", "I-geo-loc", "B-person", "I-person")
NER = HeadSpec("token-classification", LABELS)


def bert_checkpoint(folder: Path, labels: tuple[str, ...] | None, dtype=torch.float32, shard: str | None = None,
                    seed: int = 0) -> Path:
    """A tiny BERT saved like a published checkpoint: with a token-classification head of its own labels (or
    none), in `dtype`, optionally in shards."""
    from transformers import BertConfig, BertForTokenClassification, BertModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2, intermediate_size=24,
                        vocab_size=tokenizer.vocab_size, max_position_embeddings=64)
    if labels is None:
        model = BertModel(config)
    else:
        config.num_labels = len(labels)
        config.id2label, config.label2id = dict(enumerate(labels)), {label: i for i, label in enumerate(labels)}
        model = BertForTokenClassification(config)
    model.to(dtype).save_pretrained(folder, **({"max_shard_size": shard} if shard else {}))
    tokenizer.save_pretrained(folder)
    return folder


def body(model):
    return {k: v.clone() for k, v in model.base_model.state_dict().items()}


def test_a_checkpoint_with_a_head_of_another_size_gets_a_fresh_head_and_says_so(tmp_path, capsys):
    folder = bert_checkpoint(tmp_path / "ner-2-labels", ("O", "ENT"))
    loaded = load_model(str(folder), NER)
    assert loaded.model.classifier.out_features == len(LABELS)
    assert loaded.model.config.id2label == dict(enumerate(LABELS))
    assert loaded.report.head.startswith("fresh head: the checkpoint's token-classification head has 2 labels (O, ENT)")
    assert "has 2 labels (O, ENT); the task needs 5" in " ".join(capsys.readouterr().err.split())
    # The body is the checkpoint's, and it alone is fingerprinted: the same body under another head is the
    # same model to the run id.
    other = load_model(str(bert_checkpoint(tmp_path / "ner-3-labels", ("O", "B-X", "I-X"))), NER)
    assert loaded.fingerprint == other.fingerprint == weights_fingerprint(other.model)
    assert all(torch.equal(a, b) for a, b in zip(body(loaded.model).values(), body(other.model).values()))
    assert not torch.equal(loaded.model.classifier.weight, other.model.classifier.weight)  # fresh, drawn twice


def test_a_head_with_the_tasks_labels_is_kept(tmp_path):
    from transformers import BertForTokenClassification

    folder = bert_checkpoint(tmp_path / "ner-same", LABELS)
    saved = BertForTokenClassification.from_pretrained(folder).classifier.weight
    loaded = load_model(str(folder), NER)
    assert loaded.report.head == "kept"
    assert torch.equal(loaded.model.classifier.weight, saved)


def test_a_head_of_the_same_size_with_other_labels_is_replaced(tmp_path):
    from transformers import BertForTokenClassification

    other = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
    folder = bert_checkpoint(tmp_path / "ner-other", other)
    saved = BertForTokenClassification.from_pretrained(folder).classifier.weight
    loaded = load_model(str(folder), NER)
    assert loaded.report.head.startswith("fresh head: the checkpoint's head has the task's number of labels but other")
    assert not torch.equal(loaded.model.classifier.weight, saved)
    assert loaded.model.config.id2label == dict(enumerate(LABELS))


def test_a_model_without_a_head_gets_a_fresh_one_quietly(tmp_path, capsys):
    from transformers import BertForTokenClassification

    from bench.models.loading import head_kwargs

    folder = bert_checkpoint(tmp_path / "bare", None)
    torch.manual_seed(0)
    loaded = load_model(str(folder), NER)
    assert loaded.report.head == "fresh" and "note" not in capsys.readouterr().err
    # The head is the one from_pretrained draws under the run's seed, not drawn a second time (the records of
    # the offline MiniLM, which has no head, keep their numbers).
    torch.manual_seed(0)
    drawn = BertForTokenClassification.from_pretrained(folder, **head_kwargs(NER)).classifier.weight
    assert torch.equal(loaded.model.classifier.weight, drawn)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_checkpoints_load_in_the_runs_float32_and_say_so(tmp_path, dtype):
    loaded = load_model(str(bert_checkpoint(tmp_path / "half", LABELS, dtype=dtype)), NER)
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}
    assert loaded.report.stored_dtype == str(dtype).replace("torch.", "") and loaded.report.dtype == "float32"


def test_sharded_safetensors_load_and_the_shards_are_reported(tmp_path):
    folder = bert_checkpoint(tmp_path / "sharded", LABELS, shard="20KB")
    shards = sorted(folder.glob("*.safetensors"))
    assert len(shards) > 1
    loaded = load_model(str(folder), NER)
    assert loaded.report.format == f"safetensors, {len(shards)} shards"
    whole = load_model(str(bert_checkpoint(tmp_path / "whole", LABELS)), NER)
    assert loaded.fingerprint == whole.fingerprint  # the same weights, however they are stored


def test_an_encoder_for_a_causal_task_and_a_decoder_for_ner_are_clear_errors(tmp_path):
    folder = bert_checkpoint(tmp_path / "bert", None)
    with pytest.raises(BenchError, match="is an encoder \\(bert family.*give a decoder-only model \\(gpt2, gpt_neox"):
        load_model(str(folder), HeadSpec("causal-lm"))
    decoder = neox_checkpoint(tmp_path / "neox")
    with pytest.raises(BenchError, match="is a decoder-only causal LM \\(gpt-neox family.*give an encoder \\(bert"):
        load_model(str(decoder), NER)


def test_a_family_outside_the_table_is_refused_before_loading_its_weights(tmp_path):
    folder = bert_checkpoint(tmp_path / "bert", None)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "mamba"}))
    with pytest.raises(BenchError, match="unknown architecture \\(config.model_type\\) 'mamba'.*Supported families"):
        load_model(str(folder), NER)


def neox_checkpoint(folder: Path, pad: bool = True) -> Path:
    """A tiny GPT-NeoX (Pythia's architecture) with the tiny word tokenizer."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tokenizer = tiny_tokenizer()
    if not pad:
        tokenizer.pad_token = None
    torch.manual_seed(0)
    config = GPTNeoXConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2, intermediate_size=24,
                           vocab_size=tokenizer.vocab_size, max_position_embeddings=64)
    GPTNeoXForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_tokenizer_without_pad_or_end_token_is_a_clear_error(tmp_path):
    folder = neox_checkpoint(tmp_path / "neox", pad=False)
    tokenizer_config = folder / "tokenizer_config.json"
    settings = json.loads(tokenizer_config.read_text())
    settings.pop("eos_token", None)
    tokenizer_config.write_text(json.dumps(settings))
    with pytest.raises(BenchError, match="neither a pad token nor an end-of-sequence token"):
        load_model(str(folder), HeadSpec("causal-lm"))


def hub_cache(root: Path, repo_id: str, source: Path) -> Path:
    """`source`'s files laid out as the Hugging Face hub cache stores a downloaded model repository."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for file in source.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return root


def test_a_hub_id_loads_from_the_hub_cache_offline(tmp_path):
    """The code path of a user with a hub cache, without a hub: a fresh process (the hub library reads its
    cache location when imported) with HF_HUB_OFFLINE=1 loads the model by id."""
    cache = hub_cache(tmp_path / "hub", "someone/tiny-ner", bert_checkpoint(tmp_path / "src", ("O", "ENT")))
    script = ("from bench.models.loading import HeadSpec, load_model\n"
              f"m = load_model('someone/tiny-ner', HeadSpec('token-classification', {LABELS!r}))\n"
              "print(m.source, '|', m.report.format, '|', m.report.head.split(':')[0])")
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "hub:someone/tiny-ner | safetensors | fresh head"
    unknown = subprocess.run([sys.executable, "-c", script.replace("someone/tiny-ner", "someone/absent")], env=env,
                             capture_output=True, text=True, timeout=300)
    assert unknown.returncode != 0 and "unknown model 'someone/absent'" in unknown.stderr


def test_a_chat_model_without_a_chat_template_says_how_it_is_prompted(tmp_path, capsys):
    from bench.llm.chat import ChatRequest, ChatSettings
    from bench.llm.local_backend import LocalChat

    chat = LocalChat(ChatSettings(model=str(neox_checkpoint(tmp_path / "neox"))))
    assert "has no chat template (a base model)" in " ".join(capsys.readouterr().err.split())
    ids = chat.prompt_ids(ChatRequest(messages=(("user", "new york"),), reply_prefix="i"))
    assert ids == chat.tokenizer("user: new york\nassistant: i", add_special_tokens=False)["input_ids"]


@needs_assets
def test_a_gguf_file_given_by_path_loads_dequantised_in_float32(tmp_path):
    """The offline SmolLM2 ships as a Q4_1 GGUF file; given by its path it loads like the asset does, to the
    same weights (the fingerprint every committed SmolLM2 record carries)."""
    from bench.core import assets

    gguf = tmp_path / "smollm2.gguf"
    gguf.symlink_to(assets.require("SmolLM2-135M-Instruct", kind="model"))
    loaded = load_model(str(gguf), HeadSpec("causal-lm"))
    assert loaded.source == f"local:{gguf.resolve()}"
    assert loaded.report.format == "gguf (de-quantised to safetensors once)" and loaded.report.dtype == "float32"
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}
    assert loaded.fingerprint == "1e7a20ea73f05ea3"


def cached_hub_dataset(root: Path, repo_id: str) -> Path:
    """A NER dataset as `datasets` caches a hub dataset it has loaded once (what an offline user has):
    prepared Arrow files under HF_DATASETS_CACHE/<namespace>___<name>/default/<version>/<hash>."""
    import shutil

    import datasets
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.parquet.parquet import Parquet

    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-LOC", "I-LOC"]))})
    rows = {"tokens": [["I", "love", "Paris"], ["flew", "to", "New", "York"]], "ner_tags": [[0, 0, 1], [0, 0, 1, 2]]}
    files = {}
    for split in ("train", "validation", "test"):
        files[split] = [str(root / "files" / f"{split}.parquet")]
        datasets.Dataset.from_dict(rows, features=features).to_parquet(files[split][0])
    name = repo_id.split("/")[-1]
    builder = Parquet(cache_dir=str(root / "staging"), dataset_name=name, hash="0123abcd",
                      data_files=DataFilesDict.from_patterns(files))
    builder.download_and_prepare()
    version, digest = Path(builder.cache_dir).parts[-2:]
    shutil.copytree(builder.cache_dir, root / "cache" / repo_id.replace("/", "___") / "default" / version / digest)
    return root / "cache"


def test_a_dataset_id_loads_from_the_datasets_cache_offline(tmp_path):
    """`--data someone/tiny-ner` on a machine that loaded it once: a fresh process with HF_HUB_OFFLINE=1."""
    (tmp_path / "files").mkdir()
    cache = cached_hub_dataset(tmp_path, "someone/tiny-ner")
    script = ("from bench.tasks.conll import load_hub\n"
              "splits = load_hub('someone/tiny-ner')\n"
              "print(sorted(splits), splits['dev'][1].tokens, splits['dev'][1].tags)")
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == (
        "['dev', 'test', 'train'] ('flew', 'to', 'New', 'York') ('O', 'O', 'B-LOC', 'I-LOC')")
    missing = subprocess.run([sys.executable, "-c", script.replace("tiny-ner", "other")], env=env,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode != 0 and "could not load NER dataset 'someone/other'" in missing.stderr
