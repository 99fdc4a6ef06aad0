"""The `onnx` and `onnx-int8` backends: the model run by onnxruntime on the CPU, from an ONNX file exported once
(`export.py`) and cached in `Settings.cache_dir`."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import PACKAGED_MODEL, Settings
from ..errors import ModelLoadError
from .base import Embedder, read_json, resolve_model_path

log = logging.getLogger(__name__)

MAX_BATCH_TOKENS = 512  # padded tokens per forward pass of the ONNX backends; see docs/performance.md


def open_session(path: Path) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: on a 2-core machine shared with other jobs, spinning threads
    # steal the cores they wait for (measured 1.5x slower under load); on an idle machine it makes no difference.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over real tokens, then L2 normalisation: sentence-transformers' Pooling(mean) + Normalize."""
    m = mask[..., None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    return (pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)


class OnnxEmbedder(Embedder):
    """The packaged model (or a local BERT sentence-transformers folder) run by onnxruntime on the CPU.

    Neither torch nor transformers is imported to embed; the tokenizer is the model folder's `tokenizer.json` read by
    `tokenizers`. The ONNX file is exported on first use and cached in `cache_dir`. Texts are sorted by token
    count and batched so that little padding is computed; the vectors come back in the order given.
    """

    def __init__(
        self, model: str = PACKAGED_MODEL, quantize: bool = True, batch_size: int = 32, cache_dir: Path | None = None
    ) -> None:
        self.model_name = model
        self.quantize = quantize
        self.backend = "onnx-int8" if quantize else "onnx"
        # fp32 ONNX vectors equal torch's (cosine > 0.9999), so both may share an index; int8 ones may not.
        self.name = f"{model}@onnx-int8" if quantize else model
        self.batch_size = batch_size
        self.max_batch_tokens = MAX_BATCH_TOKENS
        self.cache_dir = Path(cache_dir or Settings().cache_dir)  # type: ignore[arg-type]
        self._path: Path | None = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._counter: Any = None
        self._settings: dict[str, Any] | None = None

    @property
    def folder(self) -> Path:
        if self._path is None:
            self._path = Path(resolve_model_path(self.model_name))
        return self._path

    def _model_settings(self) -> dict[str, Any]:
        if self._settings is None:
            folder = self.folder
            st = (
                read_json(folder / "sentence_bert_config.json")
                if (folder / "sentence_bert_config.json").exists()
                else {}
            )
            pooling = read_json(folder / "1_Pooling" / "config.json") if (folder / "1_Pooling").is_dir() else {}
            if pooling and not pooling.get("pooling_mode_mean_tokens"):
                raise ModelLoadError(f"{folder} does not use mean pooling; the ONNX backends need it: use torch.")
            config = read_json(folder / "config.json")
            self._settings = {
                "max_seq_length": int(st.get("max_seq_length") or config.get("max_position_embeddings", 512)),
                "dimension": int(pooling.get("word_embedding_dimension") or config["hidden_size"]),
                "lower": bool(st.get("do_lower_case", False)),
            }
        return self._settings

    @property
    def dimension(self) -> int:  # type: ignore[override]
        return int(self._model_settings()["dimension"])

    @property
    def max_tokens(self) -> int:  # type: ignore[override]
        return int(self._model_settings()["max_seq_length"])

    def onnx_path(self) -> Path:
        """The cached ONNX file for this model, backend and export recipe (it may not exist yet)."""
        import onnxruntime  # type: ignore[import-untyped]

        from .export import ONNX_RECIPE, model_fingerprint

        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(self.model_name).name or self.model_name)
        key = hashlib.sha256(
            f"{model_fingerprint(self.folder)}|{self.backend}|{ONNX_RECIPE}|{onnxruntime.__version__}".encode()
        ).hexdigest()[:12]
        return self.cache_dir / f"{slug}-{self.backend}-{key}" / "model.onnx"

    def ensure_exported(self) -> Path:
        """Export the model once (other processes wait for the first one) and return the cached file."""
        path = self.onnx_path()
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / ".export.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                log.info(
                    "preparing the %s model for the %s backend, once (about 15 s; kept in %s)",
                    self.model_name,
                    self.backend,
                    self.cache_dir,
                )
                from .export import export_onnx

                try:
                    info = export_onnx(self.folder, path, self.quantize)
                except ModelLoadError:
                    raise
                except Exception as exc:  # the exporters raise many kinds; report one
                    raise ModelLoadError(
                        f"Cannot export {self.model_name} to ONNX ({type(exc).__name__}: {exc}); "
                        "set ATLAS_QA_BACKEND=torch to use the model as is."
                    ) from exc
                (path.parent / "export.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        return path

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = open_session(self.ensure_exported())
        return self._session

    def _tokenizers(self) -> tuple[Any, Any]:
        """(batch tokenizer: truncates to the window; counter: never truncates, for `count_tokens`)."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            file = self.folder / "tokenizer.json"
            if not file.exists():
                raise ModelLoadError(f"{self.folder} has no tokenizer.json; the ONNX backends need it: use torch.")
            counter = Tokenizer.from_file(str(file))
            counter.no_truncation()  # the file itself says 128; sentence-transformers reads max_seq_length
            counter.no_padding()
            batcher = Tokenizer.from_file(str(file))
            batcher.enable_truncation(self.max_tokens)
            batcher.no_padding()  # batches are padded here, after sorting by length
            self._counter, self._tokenizer = counter, batcher
        return self._tokenizer, self._counter

    def _batches(self, order: list[int], lengths: list[int]) -> Iterator[list[int]]:
        """Consecutive runs of `order` (longest first) of at most `batch_size` texts and `max_batch_tokens` padded
        tokens: long texts go in smaller batches, so a batch wastes little on padding whatever texts it is given."""
        rows: list[int] = []
        for i in order:
            width = lengths[rows[0]] if rows else lengths[i]
            if rows and (len(rows) == self.batch_size or (len(rows) + 1) * width > self.max_batch_tokens):
                yield rows
                rows = []
            rows.append(i)
        if rows:
            yield rows

    def _prepare(self, text: str) -> str:
        return text.lower() if self._model_settings()["lower"] else text

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizers()[1].encode(self._prepare(text)).ids)

    def knows(self, word: str) -> bool:
        return self._tokenizers()[1].token_to_id(self._prepare(word)) is not None

    def fits_all(self, texts: Sequence[str]) -> list[bool]:
        encodings = self._tokenizers()[1].encode_batch([self._prepare(t) for t in texts])
        return [len(e.ids) <= self.max_tokens for e in encodings]

    def load(self) -> None:
        self.session  # noqa: B018

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        tokenizer, _ = self._tokenizers()
        encodings = tokenizer.encode_batch([self._prepare(t) for t in texts])
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        session = self.session
        wanted = {i.name for i in session.get_inputs()}
        for rows in self._batches(order, [len(e.ids) for e in encodings]):
            width = len(encodings[rows[0]].ids)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                e = encodings[i]
                ids[r, : len(e.ids)], mask[r, : len(e.ids)], types[r, : len(e.ids)] = e.ids, 1, e.type_ids
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            hidden = session.run(None, {k: v for k, v in feed.items() if k in wanted})[0]
            out[rows] = mean_pool(hidden, mask)
        return out
