"""`bench analyze RUN`: the analysis of a run as tables, PNG plots and one self-contained HTML page."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.analysis.snapshots import (
    SIMILARITY_THRESHOLD,
    Snapshot,
    concept_similarity,
    load_snapshots,
    saliency_by_layer,
)
from bench.api.record import Record
from bench.core.files import write_json_atomic
from bench.core.progress import console
from bench.harness.store import run_folder
from bench.llm.embedders import (
    EmbedderSettings,
    SentenceTransformersEmbedder,
    token_vectors,
)
from bench.neurons.masks import UnitMask
from bench.results.plots import plot_relearning
from bench.results.tables import unlearning_summary

TOP_UNITS = 10


@dataclass
class Analysis:
    record: Record
    pruned: torch.Tensor  # [layers, width] the run's mask
    snapshots: list[Snapshot]
    saliency: dict[str, dict[str, list[float]]]  # snapshot label -> per-layer % salient / mean saliency
    similarity: dict[str, list[dict[str, float]]]  # later snapshot label -> per-layer share similar + CI
    unit_similarity: torch.Tensor  # [layers, width] base vs the last snapshot
    top_units: dict[str, list[dict[str, Any]]]  # "base" / "relearned": most salient units, HATs before/after


def analyze(record: Record) -> Analysis:
    from transformers import AutoTokenizer

    from bench.models.loading import locate_model, quiet_transformers

    quiet_transformers()
    folder = run_folder(record.run_id)
    snapshots = load_snapshots(folder / "analysis.safetensors")
    # A weight-editing method prunes nothing: every unit is followed through relearning.
    pruned = (UnitMask.load(folder / record.mask.file).pruned if record.mask is not None
              else torch.zeros(snapshots[0].scores.shape, dtype=torch.bool))
    _, where = locate_model(record.model.ref)
    tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=True)
    all_ids = torch.stack([s.hat_ids for s in snapshots])
    vectors, remapped = token_vectors(all_ids, tokenizer, SentenceTransformersEmbedder(EmbedderSettings()))
    remapped_snaps = [Snapshot(s.label, s.step, s.scores, remapped[i], s.hat_values) for i, s in enumerate(snapshots)]
    base = remapped_snaps[0]
    similarity, unit_similarity = {}, None
    for snap in remapped_snaps[1:]:
        unit_similarity, per_layer = concept_similarity(base, snap, vectors, pruned)
        similarity[snap.label] = per_layer
    width = snapshots[0].scores.shape[1]

    def describe(flat: int) -> dict[str, Any]:
        layer, index = divmod(flat, width)

        def hats(snap: Snapshot) -> list[str]:
            ids = snap.hat_ids[layer, :, index].tolist()
            values = snap.hat_values[layer, :, index].tolist()
            return [f"{tok} ({val:.2f})" for tok, val in zip(tokenizer.convert_ids_to_tokens(ids), values)]

        is_pruned = bool(pruned[layer, index])
        return {"layer": layer, "index": index, "pruned": is_pruned, "hats_base": hats(snapshots[0]),
                "hats_last": None if is_pruned else hats(snapshots[-1]),
                "similarity": None if unit_similarity is None or is_pruned else float(unit_similarity[layer, index])}

    # The base model's most salient units (what the method saw), and the surviving units most salient after
    # relearning (where the concept went), each with what it responds to before and after.
    top_base = torch.argsort(-snapshots[0].scores.flatten(), stable=True)[:TOP_UNITS].tolist()
    last = snapshots[-1].scores.flatten().masked_fill(pruned.flatten(), float("-inf"))
    top_last = torch.argsort(-last, stable=True)[:TOP_UNITS].tolist()
    top_units = {"base": [describe(f) for f in top_base], "relearned": [describe(f) for f in top_last]}
    return Analysis(record, pruned, snapshots, saliency_by_layer(snapshots, pruned), similarity,
                    unit_similarity if unit_similarity is not None else torch.zeros_like(snapshots[0].scores),
                    top_units)


# -- plots -------------------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_saliency_over_checkpoints(a: Analysis, path: Path) -> Path:
    plt = _plt()
    labels = list(a.saliency)
    layers = len(a.saliency[labels[0]]["mean_saliency"])
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for layer in range(layers):
        ax.plot(range(len(labels)), [a.saliency[lab]["mean_saliency"][layer] for lab in labels], "o-",
                label=f"layer {layer}")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("mean concept saliency (unpruned units)")
    ax.set_title("Concept saliency per layer over relearning", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_saliency_vs_similarity(a: Analysis, path: Path) -> Path:
    from bench.neurons.ranking import concept_saliency

    plt = _plt()
    saliency = concept_saliency(a.snapshots[-1].scores, exclude=a.pruned)
    alive = ~a.pruned
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=120)
    ax.scatter(saliency[alive].numpy(), a.unit_similarity[alive].numpy(), s=3, alpha=0.3)
    ax.axhline(SIMILARITY_THRESHOLD, color="grey", linewidth=1, linestyle="--")
    ax.set_xlabel(f"concept saliency at {a.snapshots[-1].label}")
    ax.set_ylabel("HAT similarity to the base model")
    ax.set_title("Saliency vs concept similarity (unpruned units)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# -- tables ------------------------------------------------------------------------------------------------
def saliency_rows(a: Analysis) -> tuple[list[str], list[list[str]]]:
    """Per-layer % salient units at base, after pruning and after relearning (the paper's Tables 5-7)."""
    first, pruned, last = "base", a.snapshots[1].label, a.snapshots[-1].label
    header = ["layer", first, pruned, last, "similar [95% CI]"]
    rows = []
    layers = len(a.saliency[first]["percent_salient"])
    for layer in range(layers):
        sim = a.similarity.get(last, [{}] * layers)[layer]
        ci = f"{sim['share_similar']:.2f} [{sim['ci_low']:.2f}, {sim['ci_high']:.2f}]" if sim else "–"
        rows.append([str(layer)] + [f"{a.saliency[label]['percent_salient'][layer]:.1f}"
                                    for label in (first, pruned, last)] + [ci])
    return header, rows


def _table_html(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_report(a: Analysis) -> Path:
    folder = run_folder(a.record.run_id)
    curve = folder / "relearning.png"
    saliency_png = plot_saliency_over_checkpoints(a, folder / "saliency_per_layer.png")
    scatter_png = plot_saliency_vs_similarity(a, folder / "saliency_vs_similarity.png")
    header, rows = saliency_rows(a)
    def hat_rows(units: list[dict[str, Any]]) -> list[list[str]]:
        return [[f"{u['layer']}/{u['index']}", "yes" if u["pruned"] else "no", ", ".join(u["hats_base"]),
                 "(pruned)" if u["hats_last"] is None else ", ".join(u["hats_last"]),
                 "–" if u["similarity"] is None else f"{u['similarity']:.2f}"] for u in units]

    hat_header = ["layer/unit", "pruned", "HATs at base", f"HATs at {a.snapshots[-1].label}", "similarity"]
    r, s = a.record, a.record.summary
    stage_rows = [[st.stage, str(st.step), f"{st.scores[s.target]:.3f}"] for st in r.stages]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>relearn-bench {r.run_id}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}
th{{background:#f3f3f3}}img{{max-width:100%}}code{{background:#f3f3f3;padding:1px 4px}}</style></head><body>
<h1>{html.escape(r.method.name)} on {html.escape(r.task.name)} ({html.escape(r.task.concept)})</h1>
<p>run <code>{r.run_id}</code> · model <code>{html.escape(str(r.model.ref))}</code> · {html.escape(unlearning_summary(r))}
{f"({r.mask.mode})" if r.mask is not None else ""} · seed {r.config['seed']} · {html.escape(r.created)}</p>
<p>forgetting {s.forgetting if s.forgetting is None else round(s.forgetting, 3)} ·
collateral {s.collateral if s.collateral is None else round(s.collateral, 3)} · rt90 {s.rt90} ·
aurc {s.aurc if s.aurc is None else round(s.aurc, 3)}</p>
<h2>Relearning</h2>{_img(curve) if curve.exists() else ''}{_table_html(['stage', 'step', s.target], stage_rows)}
<h2>Concept saliency per layer</h2>
<p>Columns base, pruned, {html.escape(a.snapshots[-1].label)}: % of units with saliency above 0.5.</p>
<p>Units ranked by probeless salience for the concept, in groups of 100 (1.0 = top 100); a unit is salient
above 0.5. After pruning, pruned units are left out of the ranking and of the denominators: the shares say
where the concept lives among the units that are left. Similar: share of units whose
highest-activating tokens keep a mean-embedding cosine above {SIMILARITY_THRESHOLD} to the base model's, with
a 95% Wilson interval.</p>
{_table_html(header, rows)}{_img(saliency_png)}{_img(scatter_png)}
<h2>Most salient units of the base model</h2>
{_table_html(hat_header, hat_rows(a.top_units["base"]))}
<h2>Most salient surviving units after relearning</h2>
<p>Where the concept went: the unpruned units that rank highest at {a.snapshots[-1].label}, and what they
responded to before relearning.</p>
{_table_html(hat_header, hat_rows(a.top_units["relearned"]))}
</body></html>"""
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    write_json_atomic(folder / "analysis.json", {"saliency": a.saliency, "similarity": a.similarity,
                                                 "top_units": a.top_units})
    return path


def write_run_outputs(record: Record) -> list[Path]:
    """What a person looks at beside a run's record: its relearning curve, and the analysis report where the
    run saved activation snapshots (`--analyze`). Made from the stored record and files alone."""
    folder = run_folder(record.run_id)
    written = [folder / "relearning.png"]
    plot_relearning(record, written[0])
    if (folder / "analysis.safetensors").exists():
        written.append(write_report(analyze(record)))
        console.print(f"analysis report: {written[-1]}", soft_wrap=True)
    return written
