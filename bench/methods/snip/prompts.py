"""SNIP's three prompts and the parsers of their replies.

- Neuron explanation (SNIP appendix A.1, after Bills et al. 2023): the unit's activation records as
  `token<TAB>activation` lines, activations scaled 0–10; the reply is one sentence.
- Dataset concepts (appendix A.2): sample texts of the forget set; the reply is a numbered list.
- Importance rating (the `llm-select` baseline): an explanation and the dataset's concepts; the reply is 0–10.
"""

from __future__ import annotations

import re

from bench.core.errors import BenchError
from bench.llm.chat import ChatRequest
from bench.methods.snip.records import ActivationRecords

EXPLAIN_SYSTEM = (
    "We are studying neurons in a neural network. Each neuron looks for one particular thing in a short "
    "document. Look at the parts of the document the neuron activates for and summarise in a single sentence "
    "what the neuron is looking for. Do not list examples of words.\n\n"
    "The activation format is token<tab>activation. Activation values range from 0 to 10. A neuron finding "
    "what it is looking for is represented by a non-zero activation value. The higher the activation value, "
    "the stronger the match."
)
EXPLANATION_LEAD = "the main thing this neuron does is find"


def explanation_request(records: ActivationRecords, max_tokens: int = 24) -> ChatRequest:
    blocks, nonzero = [], []
    for tokens, scaled in zip(records.excerpts, records.scaled()):
        lines = "\n".join(f"{_visible(token)}\t{value}" for token, value in zip(tokens, scaled))
        blocks.append(f"<start>\n{lines}\n<end>")
        nonzero += [f"{_visible(token).strip()} ({value})" for token, value in zip(tokens, scaled) if value > 0]
    # As in Bills et al.: the same activations again with the zeros left out, which makes the pattern easier
    # to see (for a small model especially).
    user = (f"Neuron {records.layer}.{records.index}\nActivations:\n" + "\n\n".join(blocks) +
            f"\n\nSame activations, non-zero only: {', '.join(nonzero)}\n\n"
            f"Explanation of neuron {records.layer}.{records.index} behaviour, in one sentence.")
    return ChatRequest((("system", EXPLAIN_SYSTEM), ("user", user)), max_tokens=max_tokens,
                       reply_prefix=EXPLANATION_LEAD.capitalize())


def _visible(token: str) -> str:
    return token.replace("\n", "\\n").replace("\t", "\\t")


def parse_explanation(reply: str) -> str:
    """The sentence itself: the first non-empty line, without the lead-in the prompt offers or quotes."""
    line = next((part.strip() for part in reply.splitlines() if part.strip()), "")
    line = re.sub(r"^(explanation[^:]*:\s*)", "", line, flags=re.IGNORECASE)
    line = re.sub(rf"^(the main thing this neuron does is find|{EXPLANATION_LEAD})\s*", "", line, flags=re.IGNORECASE)
    line = line.strip(" \"'`*")
    first_sentence = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    return first_sentence.strip()


def concepts_request(samples: list[str], max_concepts: int, max_tokens: int = 80) -> ChatRequest:
    listing = "\n".join(f"- {text}" for text in samples)
    user = (f"Texts:\n{listing}\n\nIn a few words each, list the themes these texts have in common "
            f"(topic, tone, kind of language), at most {max_concepts}.")
    return ChatRequest((("user", user),), max_tokens=max_tokens, reply_prefix="Common themes:\n1.")


def parse_concepts(reply: str, max_concepts: int) -> list[str]:
    """Items of a numbered (or bulleted) list, even when several share a line; a reply that is one
    comma-separated line is accepted too. An item is cut at its first parenthesis, colon or dash."""
    body = re.sub(r"^[^\n]*:\s*\n", "", reply.strip(), count=1) if re.match(r"^[^\n]*:\s*\n", reply.strip()) else reply
    items = [part for part in re.split(r"(?:^|\s)(?:\d+[a-z]?[.)]|[-*•])\s+", body, flags=re.MULTILINE)[1:]]
    if not items:
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        if len(lines) == 1:
            items = re.split(r"[,;]", lines[0])
    concepts: list[str] = []
    for item in items:
        item = re.split(r"[(:\n]| - | – ", re.sub(r"[*_`\"]", "", item))[0].strip(" .,;")
        if item and len(item.split()) <= 8 and item.lower() not in (c.lower() for c in concepts):
            concepts.append(item)
    if not concepts:
        raise BenchError(f"the dataset-concepts reply has no list of concepts to parse: {reply[:300]!r}")
    return concepts[:max_concepts]


RATING_SYSTEM = "You rate how important a neuron of a language model is for producing a kind of text."
RATING_RETRY = "That was not a single number. Reply with one integer from 0 to 10 and nothing else."


def rating_request(explanation: str, concepts: list[str], samples: list[str], max_tokens: int = 4) -> ChatRequest:
    """The paper's GPT-4 selection: the LLM sees dataset examples and the neuron's concept, and rates 0–10."""
    examples = "\n".join(f"- {text}" for text in samples)
    user = (f"Examples from a dataset:\n{examples}\n"
            f"The dataset is about: {'; '.join(concepts)}.\n"
            f"A neuron's explanation: the main thing this neuron does is find {explanation}\n\n"
            "On a scale from 0 (irrelevant) to 10 (essential), how important is this neuron for producing text "
            "like the dataset's? Answer with one integer only.")
    return ChatRequest((("system", RATING_SYSTEM), ("user", user)), max_tokens=max_tokens, reply_prefix="Rating:")


def rating_retry(request: ChatRequest, reply: str) -> ChatRequest:
    """The stricter follow-up to a reply that held no rating: the conversation so far, then a plain demand."""
    return ChatRequest((*request.messages, ("assistant", reply), ("user", RATING_RETRY)),
                       max_tokens=request.max_tokens, reply_prefix="")


def parse_rating(reply: str) -> int | None:
    """The first integer 0–10 in the reply, or None when there is none."""
    match = re.search(r"\b(10|[0-9])\b", reply)
    return int(match.group(1)) if match else None
