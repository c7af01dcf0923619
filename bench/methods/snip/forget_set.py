"""What SNIP reads of the forget set: sample texts for the dataset-concepts prompt, and (for the LLM-free
`hats` backend) the words that set it apart from the rest of the concept data."""

from __future__ import annotations

import math
import random
import re
from collections import Counter

from bench.api.data import ConceptData


def concept_samples(concept: ConceptData, tokenizer, n: int, seed: int, max_chars: int = 200) -> list[str]:
    """Up to `n` seeded texts that contain the concept. Where only part of a text is the concept (a word
    class, an entity type), those tokens are put in [brackets] so the LLM sees what the set is about."""
    label = len(concept.label_names) - 1
    rows = [row for row in concept.data.examples if label in row["labels"]]
    chosen = random.Random(seed).sample(rows, min(n, len(rows)))
    samples = []
    for row in chosen:
        pieces, inside = [], False
        whole = all(tag == label for tag in row["labels"] if tag >= 0)
        for text, tag in zip(token_pieces(row["input_ids"], tokenizer), row["labels"]):
            marked = tag == label and not whole
            if marked and not inside:
                text = text.replace(text.lstrip(), "[" + text.lstrip(), 1)
            if inside and not marked:
                pieces[-1] += "]"
            pieces.append(text)
            inside = marked
        if inside:
            pieces[-1] += "]"
        text = "".join(pieces).strip().replace("\n", " ")
        samples.append(text if len(text) <= max_chars else text[:max_chars] + "…")
    return samples


def token_pieces(ids: list[int], tokenizer) -> list[str]:
    """Each token's share of the decoded text (with its spacing), whatever the tokenizer's word joining."""
    pieces, before = [], ""
    for end in range(1, len(ids) + 1):
        text = tokenizer.decode(ids[:end])
        pieces.append(text[len(before):] if text.startswith(before) else tokenizer.decode(ids[end - 1:end]))
        before = text
    return pieces


def distinctive_words(concept: ConceptData, tokenizer, n: int = 10, min_count: int = 3) -> list[str]:
    """Words most over-represented in the concept's text relative to the other text, by smoothed log-ratio of
    their frequencies (whole words: a token such as "ucking" is not a concept)."""
    label = len(concept.label_names) - 1
    inside, outside = Counter(), Counter()
    for row in concept.data.examples:
        pieces: dict[bool, list[int]] = {True: [], False: []}
        for token, tag in zip(row["input_ids"], row["labels"]):
            if tag >= 0:
                pieces[tag == label].append(token)
        for is_concept, tokens in pieces.items():
            words = re.findall(r"[a-z]+(?:'[a-z]+)?", tokenizer.decode(tokens).lower())
            (inside if is_concept else outside).update(words)
    n_in, n_out = max(1, sum(inside.values())), max(1, sum(outside.values()))
    ranked = sorted((-(math.log((count + 1) / n_in) - math.log((outside[word] + 1) / n_out)), word)
                    for word, count in inside.items() if count >= min_count and len(word) > 1)
    return [word for _, word in ranked[:n]]  # ties in alphabetical order
