"""Answers: question kinds, which sentences may be shown, choosing and composing them, verifying the result."""

from .extract import citation, compose, rank_sentences, supporting_works
from .spelling import respell
from .verify import REFUSAL, clean, verify

__all__ = ["REFUSAL", "citation", "clean", "compose", "rank_sentences", "respell", "supporting_works", "verify"]
