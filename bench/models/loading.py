"""Loading models by offline asset name, local path or hub id, and fingerprinting their weights."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from bench.core import assets
from bench.core.errors import BenchError, UnknownNameError
from bench.core.paths import subdir

HeadKind = Literal["token-classification", "causal-lm"]


@dataclass(frozen=True)
class HeadSpec:
    """The model head a task needs; token classification carries its label names."""

    kind: HeadKind
    labels: tuple[str, ...] = field(default=())


@dataclass
class LoadedModel:
    model: nn.Module
    tokenizer: object
    source: str  # "asset:<name>", "local:<path>" or "hub:<id>"
    fingerprint: str  # hash of the pretrained weights (the fresh task head excluded)


def auto_model_class(kind: HeadKind):
    # Imported lazily: transformers is slow to import and not every command needs it.
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

    return {"token-classification": AutoModelForTokenClassification, "causal-lm": AutoModelForCausalLM}[kind]


def head_kwargs(head: HeadSpec) -> dict:
    if head.kind != "token-classification":
        return {}
    return {
        "num_labels": len(head.labels),
        "id2label": dict(enumerate(head.labels)),
        "label2id": {label: i for i, label in enumerate(head.labels)},
    }


def locate_model(ref: str) -> tuple[str, str]:
    """(source, path-or-id): an offline asset, an existing local folder, or else a hub id."""
    asset = assets.find_asset(ref, kind="model")
    if asset is not None:
        path = assets.require(asset.name, kind="model")
        if path.suffix == ".gguf":
            path = dequantised_gguf(path, asset.folder_name)
        return f"asset:{asset.name}", str(path)
    path = Path(ref).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise BenchError(f"{path} is not a model folder (no config.json)")
        return f"local:{path.resolve()}", str(path.resolve())
    return f"hub:{ref}", ref


def load_model(ref: str, head: HeadSpec) -> LoadedModel:
    from transformers import AutoTokenizer

    source, where = locate_model(ref)
    local = not source.startswith("hub:")
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local)
        model = auto_model_class(head.kind).from_pretrained(where, local_files_only=local, **head_kwargs(head))
    except (OSError, ValueError) as exc:
        if local:
            raise BenchError(f"could not load model from {where}: {exc}") from exc
        raise UnknownNameError(
            "model",
            ref,
            assets.asset_names("model"),
            hint="Give an offline model name, a local model folder, or a hub id you can reach "
            f"(loading {ref!r} from the hub failed: {str(exc).splitlines()[0]})",
        ) from exc
    _check_head(model, head)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2-style tokenizers have none; batching needs one
    return LoadedModel(model=model, tokenizer=tokenizer, source=source, fingerprint=weights_fingerprint(model))


def dequantised_gguf(gguf: Path, name: str) -> Path:
    """A quantised GGUF model as a plain safetensors folder, made once (transformers de-quantises on load,
    about 20 s on 2 cores; the cached folder then loads in well under a second)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = subdir("models") / name
    if (folder / "config.json").exists():
        return folder
    from bench.core.progress import console

    with console.status(f"de-quantising {gguf.name} once into {folder}"):
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        config = quantised.config
        # save_pretrained refuses a model flagged as quantised; the weights are already plain floats.
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = type(quantised)(config)
        model.load_state_dict(quantised.state_dict())
        with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
            staging = Path(tmp) / name
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            staging.rename(folder)
    return folder


def _check_head(model: nn.Module, head: HeadSpec) -> None:
    if head.kind == "token-classification" and model.config.num_labels != len(head.labels):
        raise BenchError(f"model has {model.config.num_labels} labels, task needs {len(head.labels)}")


def weights_fingerprint(model: nn.Module) -> str:
    """Hash of the pretrained body (`base_model`): stable across loads, independent of the fresh head."""
    digest = hashlib.sha256(model.config.model_type.encode())
    body = getattr(model, "base_model", model)
    for name, tensor in sorted(body.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda was asked for, but torch sees no CUDA device")
    return device


def quiet_transformers() -> None:
    """Hub/loader chatter (e.g. 'newly initialised head') is expected here and hides our own output."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()  # our own rich bars cover the long work
