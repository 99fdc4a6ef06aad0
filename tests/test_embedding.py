"""Embedders: backend choice, the ONNX embedder's cache and batching (fast), and its vectors against torch's (e2e)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from atlas_qa.config import PACKAGED_MODEL, Settings
from atlas_qa.embedding import (
    DEFAULT_BACKEND,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    embedder_for,
    make_embedder,
    resolve_backend,
)
from atlas_qa.errors import ConfigError, ModelLoadError
from tests.embedder import HASH, HashEmbedder

SENTENCES = [
    "Politics is the process by which groups of people make collective decisions.",
    "Who argued that IT-enabled government could consolidate functions previously located separately?",
    "  De facto rules are the rules as they are actually practised.  ",
    "Federalism",
    "Political socialization " * 100,  # 302 word-pieces, beyond the 256-token window: truncated alike by both
]


def test_a_plugin_embedder_is_named_module_callable_and_called_with_the_settings():
    settings = Settings(model="hash-32", embedder=HASH)
    embedder = embedder_for(settings)
    assert isinstance(embedder, HashEmbedder) and embedder.dimension == 32
    for spec, message in [
        ("tests.embedder", "module:callable"),
        ("tests.nowhere:f", "Cannot load"),
        ("tests.embedder:missing", "Cannot load"),
        ("tests.embedder:HASH", "not callable"),
    ]:
        with pytest.raises(ConfigError, match=message):
            embedder_for(settings.with_(embedder=spec))


def test_production_settings_cannot_select_the_test_embedder():
    with pytest.raises(ModelLoadError, match="not a local folder"):
        make_embedder("hash-64", backend="onnx-int8").dimension  # noqa: B018


def test_backend_from_settings_then_default(tmp_path: Path):
    assert DEFAULT_BACKEND == "onnx-int8" and resolve_backend(None) == resolve_backend("") == DEFAULT_BACKEND
    assert resolve_backend("onnx") == "onnx"
    torch = embedder_for(Settings.from_env({"ATLAS_QA_BACKEND": "torch"}))
    assert isinstance(torch, SentenceTransformerEmbedder)
    settings = Settings.from_env({"ATLAS_QA_BATCH_SIZE": "8", "ATLAS_QA_INDEX_DIR": str(tmp_path / "idx")})
    embedder = embedder_for(settings)
    assert isinstance(embedder, OnnxEmbedder) and embedder.quantize and embedder.batch_size == 8
    assert embedder.name == f"{PACKAGED_MODEL}@onnx-int8"
    assert embedder.cache_dir == tmp_path / "idx" / "models"  # the export is kept beside the index
    with pytest.raises(ConfigError, match="Unknown embedding backend 'tensorrt'"):
        Settings.from_env({"ATLAS_QA_BACKEND": "tensorrt"})


def test_bad_backends_are_explained():
    with pytest.raises(ConfigError, match="choose one of onnx-int8, onnx, torch"):
        resolve_backend("tensorrt")
    with pytest.raises(ModelLoadError, match="CPU only"):
        resolve_backend("onnx", device="cuda")
    assert resolve_backend(None, device="cuda") == "torch"


def test_int8_indexes_are_kept_apart_from_fp32_ones(tmp_path: Path):
    fp32, int8 = OnnxEmbedder(quantize=False, cache_dir=tmp_path), OnnxEmbedder(quantize=True, cache_dir=tmp_path)
    assert fp32.name == PACKAGED_MODEL  # same vectors as torch: may share an index
    assert int8.name != fp32.name
    assert fp32.onnx_path() != int8.onnx_path()
    assert fp32.onnx_path().is_relative_to(tmp_path)
    assert not fp32.onnx_path().exists()  # nothing is exported until a vector is asked for


def test_window_and_dimension_come_from_the_model_folder_without_loading_it(tmp_path: Path):
    embedder = OnnxEmbedder(cache_dir=tmp_path)
    assert (embedder.dimension, embedder.max_tokens) == (384, 256)
    assert embedder._session is None


def test_cache_dir_is_fixed_with_the_settings_and_kept_by_derived_index_folders(tmp_path: Path):
    settings = Settings.from_env({"ATLAS_QA_INDEX_DIR": str(tmp_path / "idx")})
    assert settings.cache_dir == tmp_path / "idx" / "models"
    assert settings.with_(index_dir=tmp_path / "eval").cache_dir == settings.cache_dir  # one export for all
    mine = Settings.from_env({"ATLAS_QA_CACHE_DIR": str(tmp_path / "mine")})
    assert mine.cache_dir == tmp_path / "mine"


def test_batches_hold_at_most_batch_size_texts_and_the_token_budget(tmp_path: Path):
    embedder = OnnxEmbedder(batch_size=4, cache_dir=tmp_path)
    embedder.max_batch_tokens = 400
    lengths = [200, 190, 100, 90, 80, 20, 10, 10, 10, 10, 10, 300]
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches = list(embedder._batches(order, lengths))
    assert [i for b in batches for i in b] == order
    for b in batches:
        assert len(b) <= 4
        assert len(b) == 1 or len(b) * lengths[b[0]] <= 400  # padded to its longest (first) text
    assert batches[0] == [11]  # 300 tokens: a second text would make 600


def test_missing_onnx_export_tools_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModelLoadError, match="pip install onnx"):
        OnnxEmbedder(cache_dir=tmp_path).embed_batch(["x"])


# ------------------------------------------------------------------------------------------- real model (e2e)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def torch_vectors() -> tuple[SentenceTransformerEmbedder, np.ndarray]:
    embedder = SentenceTransformerEmbedder()
    return embedder, embedder.embed_batch(SENTENCES)


@pytest.mark.e2e
def test_fp32_onnx_matches_torch(onnx_cache: Path, torch_vectors):  # type: ignore[no-untyped-def]
    torch_embedder, want = torch_vectors
    onnx = OnnxEmbedder(quantize=False, cache_dir=onnx_cache)
    got = onnx.embed_batch(SENTENCES)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(axis=1).min() > 0.999
    assert [onnx.count_tokens(s) for s in SENTENCES] == [torch_embedder.count_tokens(s) for s in SENTENCES]
    # One at a time or together, in any order: the same vectors.
    assert (onnx.embed(SENTENCES[1]) @ got[1]) > 0.9999
    assert np.allclose(onnx.embed_batch(SENTENCES[::-1])[::-1], got, atol=1e-5)


@pytest.mark.e2e
def test_int8_onnx_stays_close_to_torch(onnx_cache: Path, torch_vectors, record_property):  # type: ignore[no-untyped-def]
    _, want = torch_vectors
    got = OnnxEmbedder(quantize=True, cache_dir=onnx_cache).embed_batch(SENTENCES)
    cosine = (got * want).sum(axis=1)
    record_property("int8_mean_cosine", float(cosine.mean()))
    print(f"int8 vs torch cosine: mean {cosine.mean():.4f}, min {cosine.min():.4f}")
    assert cosine.mean() > 0.98 and cosine.min() > 0.95  # measured: ~0.994 mean on the polisci chunks


@pytest.mark.e2e
def test_both_backends_know_the_same_whole_words(onnx_cache: Path, torch_vectors):  # type: ignore[no-untyped-def]
    """A word of the model's vocabulary is a real word (respelling leaves it); a slip or a long rare word is not."""
    torch_embedder, _ = torch_vectors
    onnx = OnnxEmbedder(quantize=True, cache_dir=onnx_cache)
    words = {"chunk": True, "brake": True, "evolutionary": True, "heuristcs": False, "hypothsis": False}
    assert {w: onnx.knows(w) for w in words} == words
    assert {w: torch_embedder.knows(w) for w in words} == words


def _process_state() -> tuple[dict[str, str], int, int, list[logging.Handler], int, bool]:
    """What library code must leave as it found it: the environment and logging (ours and transformers')."""
    from transformers.utils import logging as hf_logging

    root = logging.getLogger()
    return (
        dict(os.environ),
        logging.root.manager.disable,
        root.level,
        list(root.handlers),
        hf_logging.get_verbosity(),
        hf_logging.is_progress_bar_enabled(),
    )


@pytest.mark.e2e
def test_loading_and_exporting_the_model_leave_the_process_as_it_was(tmp_path: Path):
    before = _process_state()
    torch_embedder = SentenceTransformerEmbedder()
    torch_embedder.count_tokens("Political socialization " * 200)  # over the window: no warning, no state change
    OnnxEmbedder(quantize=True, cache_dir=tmp_path).embed_batch(["warm"])  # exports the model first
    assert _process_state() == before


@pytest.mark.e2e
def test_export_happens_once_and_is_reused(onnx_cache: Path):
    first = OnnxEmbedder(quantize=True, cache_dir=onnx_cache)
    first.embed_batch(["warm"])
    path = first.onnx_path()
    stamp = path.stat().st_mtime_ns
    again = OnnxEmbedder(quantize=True, cache_dir=onnx_cache)
    again.embed_batch(["warm"])
    assert again.onnx_path() == path and path.stat().st_mtime_ns == stamp
    assert (path.parent / "export.json").is_file()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".export-")]  # no temporary left behind
