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


@dataclass(frozen=True)
class LoadReport:
    """What was loaded and how it was converted, for the record's provenance."""

    format: str  # "safetensors", "safetensors, 3 shards", "pytorch", "gguf Q4_1 (de-quantised)"
    stored_dtype: str | None  # the checkpoint's own dtype, where it says
    dtype: str  # the dtype the run holds its weights in
    head: str  # "kept", "fresh", or why a checkpoint's own head was replaced


@dataclass
class LoadedModel:
    model: nn.Module
    tokenizer: object
    source: str  # "asset:<name>", "local:<path>" or "hub:<id>"
    fingerprint: str  # hash of the pretrained weights (the fresh task head excluded)
    report: LoadReport | None = None


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
    if path.is_file() and path.suffix == ".gguf":
        return f"local:{path.resolve()}", str(dequantised_gguf(path.resolve(), f"gguf-{_file_digest(path)}"))
    if path.exists():
        if not (path / "config.json").exists():
            raise BenchError(f"{path} is not a model folder (no config.json)")
        return f"local:{path.resolve()}", str(path.resolve())
    return f"hub:{ref}", ref


# Weights are held in float32 whatever the checkpoint stores (fp16, bf16): training, masks and the
# reference numbers are float32, and a GPU run adds bf16 autocast on top (bench.models.precision).
RUN_DTYPE = torch.float32


def load_model(ref: str, head: HeadSpec) -> LoadedModel:
    from transformers import AutoConfig, AutoTokenizer

    source, where = locate_model(ref)
    local = not source.startswith("hub:")
    try:
        config = AutoConfig.from_pretrained(where, local_files_only=local)
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local)
    except (OSError, ValueError) as exc:
        raise _load_error(ref, where, local, exc) from exc
    _check_family(config, head, ref)
    kwargs, head_note, redraw = _head_arguments(config, head)
    try:
        model = auto_model_class(head.kind).from_pretrained(where, local_files_only=local, dtype=RUN_DTYPE, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error(ref, where, local, exc) from exc
    if redraw:
        _reset_head(model)
    _check_head(model, head)
    if head_note not in ("kept", "fresh"):
        from bench.core.progress import console

        console.print(f"[yellow]note:[/] {head_note}")
    _ensure_pad_token(tokenizer, ref)
    report = LoadReport(format=_weights_format(where, source, local), stored_dtype=_stored_dtype(config),
                        dtype=str(RUN_DTYPE).replace("torch.", ""), head=head_note)
    return LoadedModel(model=model, tokenizer=tokenizer, source=source, fingerprint=weights_fingerprint(model),
                       report=report)


def _load_error(ref: str, where: str, local: bool, exc: Exception) -> BenchError:
    if local:
        return BenchError(f"could not load model from {where}: {exc}")
    return UnknownNameError(
        "model",
        ref,
        assets.asset_names("model"),
        hint="Give an offline model name, a local model folder, or a hub id you can reach "
        f"(loading {ref!r} from the hub failed: {str(exc).splitlines()[0]})",
    )


def _check_family(config, head: HeadSpec, ref: str) -> None:
    """The architecture family (a clear error outside the table), and that it can serve the task's head:
    a causal-LM task needs a decoder-only model; token classification here needs an encoder (the NER task
    aligns labels to words with an encoder's tokenizer and reads both sides of every token)."""
    from bench.neurons.architectures import FAMILIES, family_for_type

    family = family_for_type(config.model_type)
    if head.kind == "causal-lm" and not family.causal:
        raise BenchError(f"{ref} is an encoder ({family.name} family, model_type {config.model_type!r}); this task "
                         "scores and trains text with a causal language model: give a decoder-only model "
                         f"({', '.join(t for f in FAMILIES if f.causal for t in f.model_types)})")
    if head.kind == "token-classification" and family.causal:
        raise BenchError(f"{ref} is a decoder-only causal LM ({family.name} family, model_type {config.model_type!r}); "
                         "this task tags tokens with an encoder that reads both sides of each word: give an encoder "
                         f"({', '.join(t for f in FAMILIES if not f.causal for t in f.model_types)})")


def _head_arguments(config, head: HeadSpec) -> tuple[dict, str, bool]:
    """from_pretrained arguments for the task's head; what happens to the checkpoint's own head: "kept"
    (same labels in the same order), "fresh" (the checkpoint has none: from_pretrained draws one), or a
    sentence saying why it is replaced; and whether its loaded weights must be drawn anew after loading (a
    head of the task's size with other labels, which from_pretrained would keep)."""
    kwargs = head_kwargs(head)
    if head.kind != "token-classification":
        return kwargs, "kept", False
    has_head = any(a.endswith("ForTokenClassification") for a in (config.architectures or []))
    if not has_head:
        return kwargs, "fresh", False
    theirs = [config.id2label[i] for i in sorted(config.id2label)] if config.id2label else []
    generic = theirs == [f"LABEL_{i}" for i in range(len(theirs))]
    if len(theirs) == len(head.labels) and (generic or theirs == list(head.labels)):
        return kwargs, "kept", False
    shown = ", ".join(theirs[:4]) + (", …" if len(theirs) > 4 else "")
    if len(theirs) != len(head.labels):
        kwargs["ignore_mismatched_sizes"] = True
        note = (f"fresh head: the checkpoint's token-classification head has {len(theirs)} labels ({shown}); "
                f"the task needs {len(head.labels)}, so a new head of that size is trained in preparation")
        return kwargs, note, False
    return kwargs, (f"fresh head: the checkpoint's head has the task's number of labels but other names ({shown}); "
                    "its weights would mean other labels, so a new head is trained in preparation"), True


def _reset_head(model: nn.Module) -> None:
    """Re-initialise every module outside the pretrained body (the task head), as a fresh one would be."""
    body = getattr(model, "base_model", model)
    inside = {id(m) for m in body.modules()}
    for module in model.modules():
        if id(module) not in inside and next(module.parameters(recurse=False), None) is not None:
            # transformers marks loaded tensors as initialised and then skips them; these must be drawn anew.
            for tensor in (module, *module.parameters(recurse=False)):
                tensor._is_hf_initialized = False
            with torch.no_grad():
                model._init_weights(module)


def _ensure_pad_token(tokenizer, ref: str) -> None:
    if tokenizer.pad_token is not None:
        return
    if tokenizer.eos_token is None:
        raise BenchError(f"the tokenizer of {ref} has neither a pad token nor an end-of-sequence token to pad with; "
                         "set one (tokenizer.pad_token) and save it with the model")
    tokenizer.pad_token = tokenizer.eos_token  # GPT-2-style tokenizers have none; batching needs one


def _stored_dtype(config) -> str | None:
    stored = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    return None if stored is None else str(stored).replace("torch.", "")


def _weights_format(where: str, source: str, local: bool) -> str:
    if Path(where).parent == subdir("models"):  # made by dequantised_gguf
        return "gguf (de-quantised to safetensors once)"
    folder = Path(where) if local else _hub_snapshot(where)
    if folder is None:
        return "unknown"
    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        return "safetensors" + (f", {len(shards)} shards" if len(shards) > 1 else "")
    return "pytorch" if any(folder.glob("*.bin")) else "unknown"


def _hub_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of a hub model (what was loaded), if the cache has one."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - only describes the format; loading itself already succeeded
        return None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


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
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=RUN_DTYPE)
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
