"""The learned sentence scorer's inputs beyond the vectors: per candidate the cheap signals of the sentence and of its
neighbours, its form (a term in bold, the asked term defined, leaning on the sentence before) and the question's kind.
"""

from __future__ import annotations

import math

import numpy as np

from atlas_qa.answer.extract import Candidates, adjacent
from atlas_qa.answer.sentences import points_back
from atlas_qa.answer.terms import defines
from atlas_qa.answer.verify import clean

KINDS = ("definition", "compare", "example", "who", "reason", "mechanism", "page", "general")
FEATURES = (
    "meaning",
    "words",
    "rank",
    "echo",
    "cue",
    "prev_meaning",
    "next_meaning",
    "prev_words",
    "next_words",
    "bold",
    "defines_term",
    "points_back",
    "log_words",
    *(f"kind_{k}" for k in KINDS),
)


def features(c: Candidates) -> np.ndarray:
    """Per sentence the `FEATURES` columns (float32)."""
    n = len(c.sentences)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if not n:
        return out
    out[:, :5] = c.signals[:, :5]
    for i in range(n):
        s = c.sentences[i]
        if i > 0 and adjacent(c.sentences[i - 1], s):
            out[i, 5], out[i, 7] = c.signals[i - 1, 0], c.signals[i - 1, 1]
        if i + 1 < n and adjacent(s, c.sentences[i + 1]):
            out[i, 6], out[i, 8] = c.signals[i + 1, 0], c.signals[i + 1, 1]
        out[i, 9] = "**" in s.text
        out[i, 10] = bool(c.want.term) and defines(s.text, c.want.term)
        out[i, 11] = points_back(s.text)
        out[i, 12] = math.log1p(len(clean(s.text).split()))
    out[:, 13 + KINDS.index(c.want.kind if c.want.kind in KINDS else "general")] = 1.0
    return out


def confidence(logits: np.ndarray) -> np.ndarray:
    """The network's scores as shares of one (softmax over the question's candidates): a sure ranker puts most of it on
    one sentence, so `compose`'s rule "a further sentence needs a share of the best's score" picks fewer."""
    z = np.exp(logits - logits.max())
    return (z / z.sum()).astype(np.float32)
