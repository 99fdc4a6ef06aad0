"""The tests' embedder: deterministic hashed bag-of-words vectors, fast and model-free.

Production code does not know it. Tests choose it through the generic plug-in setting
(`Settings.embedder` / `ATLAS_QA_EMBEDDER` = `HASH`), with a model named `hash-N` (N dimensions; the index records
that name like any model's). `tests/conftest.py` sets `ATLAS_QA_EMBEDDER` for every test, so CLI runs and child
processes given `--model hash-64` use it too; any other model name gets the real embedder.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from atlas_qa.config import Settings
from atlas_qa.embedding import Embedder, make_embedder

HASH = "tests.embedder:for_tests"  # the value of Settings.embedder that selects `for_tests`


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


def for_tests(settings: Settings) -> Embedder:
    """`HashEmbedder(N)` for a model named `hash-N`, else the real model as the settings name it."""
    if m := re.fullmatch(r"hash-(\d+)", settings.model):
        return HashEmbedder(int(m.group(1)))
    return make_embedder(settings.model, settings.device, settings.batch_size, settings.backend, settings.cache_dir)
