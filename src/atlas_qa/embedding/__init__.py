"""Embedders: the model behind retrieval, on one of three backends, loaded on first use.

Backends of the real model (`Settings.backend`, `ATLAS_QA_BACKEND`):

- `onnx-int8` (the default on the CPU): the weights exported to ONNX with int8 weights (dynamic, per-channel
  quantisation): about 1.8x torch's throughput with the same retrieval quality on the polisci questions; its vectors
  drift slightly, so its indexes carry their own model name and never mix with fp32 vectors;
- `onnx`: the same export in fp32 (BERT ops fused by onnxruntime's optimizer); vectors match torch;
- `torch`: sentence-transformers in fp32, the reference (and the only backend off the CPU).

The ONNX files are made from the local weights on first use (no download, `export.py`) and cached in
`Settings.cache_dir`. `Settings.embedder` (`module:callable`) replaces all of this with an embedder of one's own,
for example the tests' deterministic one (`tests/embedder.py`).

Modules: `base` (the `Embedder` interface, `VectorCache`), `torch`, `onnx`, `export`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from ..config import Settings, check_backend
from ..errors import ConfigError, ModelLoadError
from .base import Embedder, VectorCache, resolve_model_path
from .onnx import MAX_BATCH_TOKENS, OnnxEmbedder
from .torch import SentenceTransformerEmbedder

__all__ = [
    "DEFAULT_BACKEND",
    "MAX_BATCH_TOKENS",
    "Embedder",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "VectorCache",
    "embedder_for",
    "load_plugin",
    "make_embedder",
    "resolve_backend",
    "resolve_model_path",
]

DEFAULT_BACKEND = "onnx-int8"  # measured against torch in docs/performance.md


def resolve_backend(backend: str | None, device: str = "cpu") -> str:
    """The backend to use: the one given, else `DEFAULT_BACKEND` (torch off the CPU)."""
    chosen = check_backend(backend or ("torch" if device != "cpu" else DEFAULT_BACKEND))
    if chosen != "torch" and device != "cpu":
        raise ModelLoadError(f"The {chosen} backend runs on the CPU only; use backend torch for device {device!r}.")
    return chosen


def make_embedder(
    model: str,
    device: str = "cpu",
    batch_size: int = 32,
    backend: str | None = None,
    cache_dir: Path | None = None,
) -> Embedder:
    """The model on the chosen backend.

    Args:
        model: the packaged model's name, or a local sentence-transformers folder.
        device: torch device (the ONNX backends run on the CPU only).
        batch_size: texts per forward pass.
        backend: one of `BACKENDS`; None or "" for `DEFAULT_BACKEND`.
        cache_dir: where exported ONNX files are kept (default: the default settings' `cache_dir`).
    """
    chosen = resolve_backend(backend, device)
    if chosen == "torch":
        return SentenceTransformerEmbedder(model, device=device, batch_size=batch_size)
    return OnnxEmbedder(model, quantize=chosen == "onnx-int8", batch_size=batch_size, cache_dir=cache_dir)


def load_plugin(spec: str) -> Callable[[Settings], Embedder]:
    """The factory `module:callable` names (it is called with the settings and returns an `Embedder`)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"embedder must be written module:callable (got {spec!r}).")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"Cannot load the embedder {spec!r}: {exc}") from None
    if not callable(factory):
        raise ConfigError(f"The embedder {spec!r} is not callable.")
    return factory  # type: ignore[no-any-return]


def embedder_for(settings: Settings) -> Embedder:
    """The embedder the settings name: `settings.embedder`'s factory if set, else the model (model, device, batch
    size, backend, ONNX cache)."""
    if settings.embedder:
        return load_plugin(settings.embedder)(settings)
    return make_embedder(settings.model, settings.device, settings.batch_size, settings.backend, settings.cache_dir)
