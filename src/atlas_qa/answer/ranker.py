"""The learned sentence ranker: which candidate sentences answer the question, learned from six textbooks.

A small network (`models/ranker.onnx`, trained by `training/ranker/train.py`, described in docs/ranker.md) reads, per
candidate sentence, the question's and the sentence's vectors from the embedding model (already computed for the
cheap signals, so the ranker adds no encoding) and `features`: the cheap signals of the sentence and of its
neighbours, its form (does it set a term in bold, define the asked term, lean on the sentence before) and the
question's kind. It returns one score per sentence; `compose` picks by it as it does by the hand-set scores.

onnxruntime runs it (already a dependency of chromadb and of the embedder), loaded on first use.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

import numpy as np

from ..config import PACKAGED_MODEL, Settings
from ..errors import ConfigError
from .kinds import Intent
from .sentences import Sentence, points_back
from .terms import defines, in_bold
from .verify import clean

log = logging.getLogger(__name__)

MODEL = Path(__file__).parent / "models" / "ranker.onnx"
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


@dataclass(frozen=True)
class Candidates:
    """What a scorer reads: the question, its kind, the candidate sentences, their cheap signals (`extract.SIGNALS`
    columns) and the model's vectors: the question's first, then each sentence's (None without a model)."""

    question: str
    want: Intent
    sentences: list[Sentence]
    signals: np.ndarray
    vectors: np.ndarray | None


def features(c: Candidates) -> np.ndarray:
    """Per sentence the `FEATURES` columns (float32): the training script and the ranker share this one function."""
    n = len(c.sentences)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if not n:
        return out
    out[:, :5] = c.signals[:, :5]
    for i in range(n):
        s = c.sentences[i]
        if i > 0 and _adjacent(c.sentences[i - 1], s):
            out[i, 5], out[i, 7] = c.signals[i - 1, 0], c.signals[i - 1, 1]
        if i + 1 < n and _adjacent(s, c.sentences[i + 1]):
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


def _adjacent(a: Sentence, b: Sentence) -> bool:
    return a.passage_rank == b.passage_rank and a.page_id == b.page_id and a.end <= b.start


def ranker_for(settings: Settings) -> LearnedRanker | None:
    """The scorer `ask` uses: the learned ranker, unless the settings say `ranker=none` or the embedding model is not
    the one it learned from (its inputs are that model's vectors), when the hand-set scorer is used (None)."""
    if settings.ranker == "none":
        return None
    if settings.embedder or settings.model != PACKAGED_MODEL:
        log.warning("the learned sentence ranker reads %s vectors; with another model the hand-set scorer is used",
                    PACKAGED_MODEL)
        return None
    return LearnedRanker()


class LearnedRanker:
    """Scores candidate sentences with the shipped network; a scorer for `extract.compose`. Thread-safe."""

    def __init__(self, path: Path = MODEL) -> None:
        self.path = path
        self._session = None
        self._lock = Lock()

    def __call__(self, c: Candidates) -> np.ndarray:
        if not c.sentences:
            return np.zeros(0, dtype=np.float32)
        if c.vectors is None:
            raise ConfigError("The learned sentence ranker needs the embedding model's vectors; use ranker=none.")
        q = np.repeat(c.vectors[:1], len(c.sentences), axis=0).astype(np.float32)
        inputs = {"question": q, "sentence": c.vectors[1:].astype(np.float32), "features": features(c)}
        return confidence(self._run(inputs))

    def _run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = _load(self.path)
        return self._session.run(None, inputs)[0].reshape(-1)


def _load(path: Path):  # noqa: ANN202 (an onnxruntime.InferenceSession)
    import onnxruntime as ort

    if not path.exists():
        raise ConfigError(f"The sentence ranker {path} is missing; reinstall atlas-qa or set ATLAS_QA_RANKER=none.")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a few dozen rows: threads cost more than they give
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
