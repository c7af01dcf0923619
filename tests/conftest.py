"""Shared fixtures: an isolated BENCH_HOME per test, and tiny random models of every supported family."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.api.data import ConceptData, Examples
from bench.testing import make_tiny_bert, tiny_conll_text

os.environ.setdefault("BENCH_PROGRESS", "0")

REAL_HOME = Path(os.environ.get("BENCH_HOME") or Path.home() / ".cache" / "relearn-bench")


@pytest.fixture(autouse=True)
def bench_home(tmp_path, monkeypatch):
    """Every test writes into its own BENCH_HOME; the installed offline assets are linked in read-only."""
    home = tmp_path / "bench-home"
    home.mkdir()
    if (REAL_HOME / "assets").exists():
        (home / "assets").symlink_to(REAL_HOME / "assets")
    monkeypatch.setenv("BENCH_HOME", str(home))
    return home


def tiny_model(family: str, seed: int = 0):
    """A randomly initialised 2-layer model of `family` (hidden 16, MLP 24) built from a config."""
    import transformers as tf

    torch.manual_seed(seed)
    vocab = 64
    configs = {
        "gpt2": (tf.GPT2LMHeadModel, tf.GPT2Config(n_layer=2, n_embd=16, n_head=2, n_inner=24, vocab_size=vocab,
                                                   n_positions=64, bos_token_id=0, eos_token_id=0)),
        "bert": (tf.BertForTokenClassification, tf.BertConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                                              intermediate_size=24, vocab_size=vocab, num_labels=3)),
        "roberta": (tf.RobertaForTokenClassification, tf.RobertaConfig(num_hidden_layers=2, hidden_size=16,
                                                                       num_attention_heads=2, intermediate_size=24,
                                                                       vocab_size=vocab, num_labels=3, pad_token_id=1)),
        "distilbert": (tf.DistilBertForTokenClassification, tf.DistilBertConfig(n_layers=2, dim=16, n_heads=2,
                                                                                hidden_dim=24, vocab_size=vocab,
                                                                                num_labels=3)),
        "llama": (tf.LlamaForCausalLM, tf.LlamaConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                                      num_key_value_heads=2, intermediate_size=24, vocab_size=vocab,
                                                      bos_token_id=0, eos_token_id=0)),
        "qwen2": (tf.Qwen2ForCausalLM, tf.Qwen2Config(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                                       num_key_value_heads=2, intermediate_size=24, vocab_size=vocab,
                                                       bos_token_id=0, eos_token_id=0)),
        "mistral": (tf.MistralForCausalLM, tf.MistralConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                                            num_key_value_heads=2, intermediate_size=24,
                                                            vocab_size=vocab, bos_token_id=0, eos_token_id=0)),
        "gemma": (tf.GemmaForCausalLM, tf.GemmaConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                                      num_key_value_heads=1, head_dim=8, intermediate_size=24,
                                                      vocab_size=vocab, bos_token_id=0, eos_token_id=0, pad_token_id=1)),
        "gemma2": (tf.Gemma2ForCausalLM, tf.Gemma2Config(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                                         num_key_value_heads=1, head_dim=8, intermediate_size=24,
                                                         vocab_size=vocab, bos_token_id=0, eos_token_id=0,
                                                         pad_token_id=1)),
        "qwen3": (tf.Qwen3ForCausalLM, tf.Qwen3Config(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                                      num_key_value_heads=2, head_dim=8, intermediate_size=24,
                                                      vocab_size=vocab, bos_token_id=0, eos_token_id=0)),
        "gpt_neox": (tf.GPTNeoXForCausalLM, tf.GPTNeoXConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                                             intermediate_size=24, vocab_size=vocab,
                                                             max_position_embeddings=64, bos_token_id=0,
                                                             eos_token_id=0)),
        "opt": (tf.OPTForCausalLM, tf.OPTConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2, ffn_dim=24,
                                                vocab_size=vocab, max_position_embeddings=64, word_embed_proj_dim=16,
                                                bos_token_id=0, eos_token_id=0, pad_token_id=1)),
        "phi": (tf.PhiForCausalLM, tf.PhiConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                                intermediate_size=24, vocab_size=vocab, max_position_embeddings=64,
                                                bos_token_id=0, eos_token_id=0)),
        "electra": (tf.ElectraForTokenClassification, tf.ElectraConfig(num_hidden_layers=2, hidden_size=16,
                                                                       embedding_size=16, num_attention_heads=2,
                                                                       intermediate_size=24, vocab_size=vocab,
                                                                       num_labels=3)),
        "deberta-v2": (tf.DebertaV2ForTokenClassification, tf.DebertaV2Config(num_hidden_layers=2, hidden_size=16,
                                                                              num_attention_heads=2,
                                                                              intermediate_size=24, vocab_size=vocab,
                                                                              num_labels=3)),
        "xlm-roberta": (tf.XLMRobertaForTokenClassification, tf.XLMRobertaConfig(num_hidden_layers=2, hidden_size=16,
                                                                                 num_attention_heads=2,
                                                                                 intermediate_size=24,
                                                                                 vocab_size=vocab, num_labels=3,
                                                                                 pad_token_id=1)),
        # Outside the table (fused gate and up projections): used to test the error.
        "phi3": (tf.Phi3ForCausalLM, tf.Phi3Config(num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                                   intermediate_size=24, vocab_size=vocab, bos_token_id=0,
                                                   eos_token_id=0, pad_token_id=1)),
    }
    cls, config = configs[family]
    model = cls(config)
    model.eval()
    return model


# One tiny model per row of bench.neurons.architectures.FAMILIES and per model type it names.
FAMILIES = ("gpt2", "bert", "roberta", "distilbert", "llama", "qwen2", "mistral", "gemma", "gemma2", "qwen3",
            "gpt_neox", "opt", "phi", "electra", "deberta-v2", "xlm-roberta")


def recorder(seen: dict, shape_only: bool = False):
    """A unit hook that stores each layer's activations (or their shape) and changes nothing."""

    def record(layer, acts):
        seen[layer] = acts.shape if shape_only else acts.detach().clone()

    return record


def tiny_batch(seed: int = 0, batch: int = 3, length: int = 7) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 64, (batch, length), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def assets_installed() -> bool:
    from bench.core import assets

    return all(assets.locate(a) is not None for a in assets.catalog())


# Locally, tests on the real assets skip until they are installed; in CI (CI=true) they must run, so
# a missing asset there fails loudly instead of skipping.
needs_assets = pytest.mark.skipif(
    not os.environ.get("CI") and not assets_installed(),
    reason="offline assets not installed: run `bench assets install`",
)


# -- a tiny NER world: synthetic CoNLL data, a WordPiece tokenizer built in code, a tiny BERT folder --------
# (bench.testing owns them: method authors' conformance checks run on the same world)


@pytest.fixture
def tiny_conll(tmp_path) -> Path:
    path = tmp_path / "tiny.conll"
    path.write_text(tiny_conll_text())
    return path


@pytest.fixture
def tiny_bert_folder(tmp_path) -> Path:
    """A local model folder (config, weights, tokenizer) of a 2-layer random BERT: loads like any model."""
    return make_tiny_bert(tmp_path / "tiny-bert")


# -- a tiny BERT with one MLP unit wired to fire on one token ------------------------------------------------
CONCEPT_TOKEN = 9
WIRED = (0, 5)  # layer 0, MLP unit 5


def wired_bert():
    """Token 9's embedding points along e0; unit (0, 5) reads e0 with a large weight, so it fires on it."""
    model = tiny_model("bert")
    with torch.no_grad():
        embedding = model.bert.embeddings.word_embeddings.weight
        embedding[CONCEPT_TOKEN] = 0.0
        embedding[CONCEPT_TOKEN, 0] = 8.0
        dense = model.bert.encoder.layer[0].intermediate.dense
        dense.weight[5] = 0.0
        dense.weight[5, 0] = 6.0
        dense.bias[5] = -2.0
    return model


def concept_data(with_concept=True):
    g = torch.Generator().manual_seed(0)
    examples = []
    for i in range(40):
        ids = torch.randint(10, 64, (10,), generator=g)
        if with_concept:
            ids[i % 10] = CONCEPT_TOKEN
        examples.append({"input_ids": ids.tolist(), "labels": [int(t == CONCEPT_TOKEN) for t in ids.tolist()]})

    def collate(rows):
        ids = torch.tensor([r["input_ids"] for r in rows])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([r["labels"] for r in rows])}

    return ConceptData(Examples(examples, collate), label_names=("other", "token-9"))


WORDS = ["<pad>", "the", "cat", "dog", "sat", "on", "mat", "ran", "to", "a", "park", "house", "big", "small", "."]


def word_tokenizer():
    """A 64-word whitespace tokenizer (pad = eos = id 0) for the tiny causal models."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(WORDS + [f"w{i}" for i in range(len(WORDS), 64)])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="w63"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece()  # decoded words are joined by spaces
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<pad>", unk_token="w63")


# -- a tiny sweep with real protocol runs, shared by the leaderboard, check, submit and browser tests ---------
TINY_SWEEP = """
seeds = [0, 1, 2]
fractions = [0.25]

[run]
model = "{model}"
data = "{data}"
profile = "quick"  # the same plan on a machine with a GPU (where the default profile is paper)
finetune_epochs = 8
finetune_lr = 3e-3
relearn_steps = 20
batch_size = 8

[tasks.ner]

[methods.concept-neurons]
"""


def write_tiny_sweep(folder: Path) -> Path:
    """A sweep TOML over a tiny random BERT and synthetic CoNLL data (concept-neurons plus both controls)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = make_tiny_bert(folder / "tiny-bert")
    data = folder / "tiny.conll"
    data.write_text(tiny_conll_text())
    path = folder / "tiny-sweep.toml"
    path.write_text(TINY_SWEEP.format(model=model, data=data))
    return path


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """(sweep file, folder of its exported records, the BENCH_HOME it ran in): 9 real tiny runs, once per session."""
    from bench.cli import main

    root = tmp_path_factory.mktemp("tiny-sweep")
    config = write_tiny_sweep(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_HOME", str(root / "home"))
        assert main(["sweep", "--config", str(config), "--export", str(root / "records")]) == 0
    return config, root / "records", root / "home"


PLUGIN = Path(__file__).parent / "plugin_example"


@pytest.fixture(scope="session")
def installed_plugin(tmp_path_factory):
    """pip-installs the example plug-in package into a folder and puts it on sys.path, as a user would."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(PLUGIN)],
        check=True,
    )
    sys.path.insert(0, str(target))
    from bench.core.plugins import ATTACKS, METHODS

    METHODS.refresh()
    ATTACKS.refresh()
    yield target
    sys.path.remove(str(target))
    sys.modules.pop("bench_example_plugin", None)
    sys.modules.pop("bench_example_plugin.attacks", None)
    METHODS.refresh()
    ATTACKS.refresh()


