"""Well-known models with their parameter and token counts, and where each number is published.

`scale_tokens` is the figure the report's "known scale" places a corpus beside (the training set
for BERT and GPT-2, whose tokens seen are many passes over it; the tokens trained on for the rest).
FLOPs are not stored: the planner derives them as 6 N D, so the table and the planner agree.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class KnownModel:
    """A published model's size and data."""

    name: str
    params: float  # parameters N
    train_tokens: float | None  # tokens seen in training D (None: not published)
    scale_tokens: float  # the corpus size shown on the known scale
    scale_note: str  # what scale_tokens counts
    source: str  # the paper


KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel(
        name="BERT-Large", params=340e6, train_tokens=128_000 * 1_000_000, scale_tokens=3.3e9,
        scale_note="BooksCorpus 800M + English Wikipedia 2,500M words",
        source="Devlin et al. 2019, BERT, sec. 3.1 and A.2 (1M steps of 128,000 tokens, ~40 epochs "
               "of the 3.3B-word corpus)"),
    KnownModel(
        name="GPT-2", params=1.5e9, train_tokens=None, scale_tokens=8e9,
        scale_note="WebText, 40 GB of text (~8B tokens, an estimate; tokens seen not published)",
        source="Radford et al. 2019, Language Models are Unsupervised Multitask Learners, sec. 2.1"),
    KnownModel(
        name="GPT-3", params=175e9, train_tokens=300e9, scale_tokens=300e9,
        scale_note="tokens trained on", source="Brown et al. 2020, Language Models are Few-Shot "
        "Learners, table 2.2 and D.1 (3.14e23 FLOPs reported)"),
    KnownModel(
        name="Chinchilla", params=70e9, train_tokens=1.4e12, scale_tokens=1.4e12,
        scale_note="tokens trained on", source="Hoffmann et al. 2022, Training Compute-Optimal Large "
        "Language Models, sec. 4.1"),
    KnownModel(
        name="PaLM", params=540e9, train_tokens=780e9, scale_tokens=780e9,
        scale_note="tokens trained on", source="Chowdhery et al. 2022, PaLM: Scaling Language Modeling "
        "with Pathways, sec. 3 and table 20"),
    KnownModel(
        name="LLaMA-65B", params=65.2e9, train_tokens=1.4e12, scale_tokens=1.4e12,
        scale_note="tokens trained on", source="Touvron et al. 2023, LLaMA: Open and Efficient "
        "Foundation Language Models, table 2"),
)

# The four the known scale shows beside a corpus.
SCALE_MODELS = ("BERT-Large", "GPT-2", "GPT-3", "LLaMA-65B")


def known_model(name: str) -> KnownModel:
    for model in KNOWN_MODELS:
        if model.name.lower() == name.lower():
            return model
    raise ValueError(f"unknown model {name!r}; known: {', '.join(m.name for m in KNOWN_MODELS)}")
