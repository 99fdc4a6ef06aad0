"""The `torch` backend: the sentence-transformers model in fp32, read from disk (the reference for the others)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..config import PACKAGED_MODEL
from ..errors import ModelLoadError
from .base import Embedder, resolve_model_path


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Within the block, transformers shows no progress bars and logs errors only; its settings are restored after."""
    from transformers.utils import logging as hf_logging

    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model read from local files only (nothing is downloaded); loaded on first use.

    The environment is the caller's: the CLI sets `OMP_WAIT_POLICY=PASSIVE` (idle torch threads sleep; on a 2-core
    machine shared with other jobs, one query's p95 fell from ~200 to ~30 ms) before torch loads.
    """

    backend = "torch"

    def __init__(self, model: str = PACKAGED_MODEL, device: str = "cpu", batch_size: int = 32) -> None:
        self.name = model
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            path = resolve_model_path(self.name)
            from sentence_transformers import SentenceTransformer

            try:
                with quiet_transformers():
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

    def _token_ids(self, texts: str | list[str]) -> Any:
        # verbose=False: counting an over-long chunk's tokens is not worth the tokenizer's warning
        return self.model.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]

    def count_tokens(self, text: str) -> int:
        return len(self._token_ids(text))

    def knows(self, word: str) -> bool:
        tokenizer = self.model.tokenizer
        return tokenizer.convert_tokens_to_ids(word) != tokenizer.unk_token_id

    def fits_all(self, texts: Sequence[str]) -> list[bool]:
        if not texts:
            return []
        return [len(i) <= self.max_tokens for i in self._token_ids(list(texts))]

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)
