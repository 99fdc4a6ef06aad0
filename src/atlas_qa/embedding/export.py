"""The ONNX export: a local sentence-transformers BERT model -> an optimised (optionally int8) ONNX file, checked
against the torch model on probe sentences. Run once per model, backend and recipe; `onnx.py` caches the result."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from .base import read_json
from .onnx import mean_pool, open_session
from .torch import quiet_transformers

ONNX_RECIPE = "2"  # bump whenever `export_onnx` changes what it writes: cached files are keyed by it
ONNX_OPSET = 17


def model_fingerprint(folder: Path) -> str:
    """Identifies the weights cheaply (names, sizes, modification times) so a changed model is exported anew."""
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".txt"):
            st = f.stat()
            h.update(f"{f.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


@contextmanager
def quiet_export() -> Iterator[None]:
    """Silence the exporter's tracer warnings and the quantiser's advice, which say nothing actionable here.

    Logging below errors is off for the duration of the block only: the previous `logging.disable` level is restored,
    and so are the root logger's level and handlers (the exporters' tools may configure logging as they run).
    """
    previous, root = logging.root.manager.disable, logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    with warnings.catch_warnings(), quiet_transformers():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)
            root.setLevel(level)
            root.handlers[:] = handlers


def export_onnx(model_path: Path, out: Path, quantize: bool) -> dict[str, Any]:
    """Export a local sentence-transformers BERT model to ONNX: the transformer only (pooling is done in numpy).

    Steps: torch.onnx.export (TorchScript exporter, eager attention so onnxruntime can fuse it), onnxruntime's BERT
    optimizer (fused Attention, SkipLayerNorm, BiasGelu), then optionally dynamic int8 quantisation with per-channel
    weight scales (per-tensor scales drift to a mean cosine of 0.95 against fp32; per-channel keeps about 0.995),
    leaving the feed-forward down-projections in fp32 (0.997).

    Returns:
        What was exported and how closely it matches the torch model on a few probe sentences (mean cosine).
    """
    try:
        import onnx
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]
        from onnxruntime.transformers import optimizer  # type: ignore[import-untyped]
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise ModelLoadError(f"Exporting the model to ONNX needs {exc.name}: pip install onnx onnxruntime") from None

    config = read_json(model_path / "config.json")
    if config.get("model_type") != "bert":
        raise ModelLoadError(
            f"The ONNX backends support BERT models only, not {config.get('model_type')!r}: use torch."
        )
    with quiet_transformers():
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
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp, quiet_export(), torch.no_grad():
        raw, fused = Path(tmp) / "raw.onnx", Path(tmp) / "fused.onnx"
        # The reference vectors come first: after tracing, the module's outputs are not to be trusted.
        want = mean_pool(bert(**enc).last_hidden_state.numpy(), enc["attention_mask"].numpy())
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
            keep_fp32 = ffn_down_projections(onnx.load(str(fused)))
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
        got = mean_pool(
            open_session(final).run(None, {n: enc[n].numpy() for n in names})[0], enc["attention_mask"].numpy()
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


def ffn_down_projections(model: Any) -> list[str]:
    """Names of the MatMuls that read a GELU's output (each layer's feed-forward down-projection).

    Their inputs are the widest-ranging activations of the network, so one dynamic int8 scale per tensor loses the
    most there: kept in fp32, the mean cosine to the fp32 model goes from 0.9946 to 0.9973 on the polisci chunks
    for about a fifth of the int8 speed-up (docs/performance.md).
    """
    gelu = {out for n in model.graph.node if "Gelu" in n.op_type for out in n.output}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[0] in gelu]
