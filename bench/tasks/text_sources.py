"""Plain English text from the offline assets: the Lee news corpus and Jane Austen's six novels."""

from __future__ import annotations

import gzip
import struct
import warnings
import zlib
from collections.abc import Sequence
from functools import lru_cache

from bench.core import assets
from bench.core.errors import BenchError

# Evaluation questions come from these novels; training text (relearning, concept data) from the others.
EVAL_NOVELS = ("prideprejudice", "persuasion", "northangerabbey")
TRAIN_NOVELS = ("emma", "sensesensibility", "mansfieldpark")


def lee_documents() -> list[str]:
    """The 300 news documents of gensim's Lee background corpus, one per line."""
    path = assets.require("gensim-test-data", kind="data") / "lee_background.cor"
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@lru_cache(maxsize=1)
def austen_novels() -> dict[str, list[str]]:
    """{novel: lines} from the janeaustenr R package's lazy-load database (an index of offsets into
    zlib-compressed R serialisations), read with `rdata` without R."""
    import rdata

    folder = assets.require("janeausten", kind="data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata: "Unknown file type: assumed RDS" - it is one
        index = rdata.conversion.convert(rdata.parser.parse_data(gzip.decompress((folder / "Rdata.rdx").read_bytes())))
        database = (folder / "Rdata.rdb").read_bytes()
        novels = {}
        for name, (offset, length) in index["variables"].items():
            blob = database[int(offset):int(offset) + int(length)]
            (size,) = struct.unpack(">I", blob[:4])
            raw = zlib.decompress(blob[4:])
            if len(raw) != size:
                raise BenchError(f"{folder / 'Rdata.rdb'}: entry {name} is {len(raw)} bytes, its header says {size}")
            lines = rdata.conversion.convert(rdata.parser.parse_data(raw))
            novels[str(name)] = [str(line) for line in lines]
    return novels


def paragraphs(lines: list[str]) -> list[str]:
    """Blank-line separated paragraphs, each joined into one line; headings (all capitals) dropped."""
    out, current = [], []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            text = " ".join(current)
            if not text.isupper() and len(text.split()) >= 4:
                out.append(text)
            current = []
    return out


WIKIPEDIA_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


@lru_cache(maxsize=1)
def wikipedia_articles() -> tuple[tuple[str, str], ...]:
    """(title, wikitext) of every article page of gensim's shortened English Wikipedia dump (no redirects, no
    other namespaces), read once: the paragraphs and the toxicity task's topics both come from it."""
    import bz2
    from xml.etree import ElementTree

    path = assets.require("gensim-test-data", kind="data") / WIKIPEDIA_DUMP
    root = ElementTree.fromstring(bz2.open(path, "rt", encoding="utf-8").read())
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    articles = []
    for page in root.iter(f"{ns}page"):
        text = page.findtext(f"{ns}revision/{ns}text") or ""
        if page.findtext(f"{ns}ns") == "0" and not text.lstrip().lower().startswith("#redirect"):
            articles.append((page.findtext(f"{ns}title") or "", text))
    return tuple(articles)


@lru_cache(maxsize=1)
def wikipedia_paragraphs(min_words: int = 20) -> tuple[str, ...]:
    """The article paragraphs of gensim's shortened English Wikipedia dump (206 pages, about 5,500 paragraphs),
    as plain text: mwparserfromhell strips the markup; references, redirects, tables, file captions and lists
    go (a paragraph keeps at least `min_words` words, and no markup residue such as '|')."""
    import mwparserfromhell

    out: list[str] = []
    for _, text in wikipedia_articles():
        code = mwparserfromhell.parse(text)
        for tag in code.filter_tags(matches=lambda node: str(node.tag).lower() in ("ref", "table", "gallery")):
            try:
                code.remove(tag)
            except ValueError:  # inside a node already removed
                pass
        for line in code.strip_code(normalize=True, collapse=True).splitlines():
            line = " ".join(line.split())
            if len(line.split()) >= min_words and "|" not in line and not line.startswith(("*", "#", ":")):
                out.append(line)
    return tuple(out)


def spread(items: Sequence[str], n: int) -> list[str]:
    """`n` items taken evenly across `items` (every one when there are fewer), so that a few hundred paragraphs
    come from many articles rather than the first few."""
    if n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]
