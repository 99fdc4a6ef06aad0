"""Embedding backends side by side: throughput on the corpus's chunk texts, closeness to the fp32 torch vectors,
and page retrieval quality (recall@5, MRR@10) on the question set, each backend's index built from its own vectors.

    .venv/bin/python benchmarks/backends.py [--corpus DIR] [--questions JSONL] [--json]

Throughput is measured slice by slice: the texts are cut into random slices and every backend encodes each slice,
in an order that rotates, so a load from elsewhere on the machine weighs on every backend alike.
Prints numbers and ratios; passes or fails nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: `benchmarks` from this checkout

from atlas_qa.chunking import chunk_document  # noqa: E402
from atlas_qa.config import BACKENDS, PACKAGED_MODEL, Settings  # noqa: E402
from atlas_qa.core import Atlas  # noqa: E402
from atlas_qa.embedding import Embedder, make_embedder  # noqa: E402
from atlas_qa.evaluate import evaluate, load_questions, refusal_rates  # noqa: E402
from atlas_qa.loaders import load_corpus  # noqa: E402
from benchmarks.bench import default_questions  # noqa: E402
from benchmarks.system import machine  # noqa: E402


class Replay(Embedder):
    """Serves vectors computed beforehand for known texts (the chunks) and asks the real embedder for the rest."""

    def __init__(self, real: Embedder, known: dict[str, np.ndarray]) -> None:
        self.real, self.known = real, known
        self.name, self.dimension, self.max_tokens = real.name, real.dimension, real.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.real.count_tokens(text)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.known]
        if missing:
            self.known.update(zip(missing, self.real.embed_batch(missing)))
        return np.stack([self.known[t] for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)


def encode(embedder: Embedder, texts: list[str], batch_size: int) -> np.ndarray:
    """The bare encode of a backend: sentence-transformers' `encode` for torch, `embed_batch` for ONNX."""
    if embedder.backend == "torch":  # type: ignore[attr-defined]
        return np.asarray(embedder.model.encode(texts, batch_size=batch_size, normalize_embeddings=True))  # type: ignore[attr-defined]
    return embedder.embed_batch(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--questions", type=Path)
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated, from {', '.join(BACKENDS)}")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--slices", type=int, default=12, help="interleaving slices for the timing (default 12)")
    parser.add_argument(
        "--out-of-scope",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "tests" / "data" / "out_of_scope.jsonl",
        help="questions the course does not answer, for refusal rates",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    corpus = args.corpus or Settings.from_env().corpus
    questions = load_questions(args.questions or default_questions(corpus))
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    if names[0] != "torch":
        names.insert(0, "torch")  # the reference
    embedders = {b: make_embedder(PACKAGED_MODEL, "cpu", args.batch_size, backend=b) for b in names}
    settings = Settings(chunk_tokens=Settings().chunk_tokens)

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    loaded = load_corpus([corpus])
    probe = embedders[names[-1]]
    texts = [c.embed_text for d in loaded.documents for c in chunk_document(d, settings.chunk_tokens, probe.fits_all)]
    for b, e in embedders.items():
        log(f"loading {b}")
        encode(e, ["warm-up"] * 4, args.batch_size)

    # The texts in random slices; every backend encodes each slice, in an order that rotates from slice to slice,
    # so bursts of load from elsewhere fall on all backends alike.
    rng = np.random.default_rng(0)
    slices = [sorted(part) for part in np.array_split(rng.permutation(len(texts)), args.slices)]
    seconds = {b: 0.0 for b in names}
    vectors = {b: np.zeros((len(texts), embedders[b].dimension), np.float32) for b in names}
    for n, rows in enumerate(slices):
        log(f"slice {n + 1}/{len(slices)} ({len(rows)} chunks)")
        for b in names[n % len(names) :] + names[: n % len(names)]:
            start = time.perf_counter()
            vectors[b][rows] = encode(embedders[b], [texts[i] for i in rows], args.batch_size)
            seconds[b] += time.perf_counter() - start

    results: dict[str, dict[str, object]] = {}
    tops: dict[str, np.ndarray] = {}
    for b in names:
        cos = (vectors[b] * vectors["torch"]).sum(axis=1)
        row: dict[str, object] = {
            "chunks_per_s": round(len(texts) / seconds[b], 2),
            "speedup_vs_torch": round(seconds["torch"] / seconds[b], 3),
            "cosine_to_torch_mean": round(float(cos.mean()), 5),
            "cosine_to_torch_min": round(float(cos.min()), 5),
        }
        log(f"evaluating {b} on {len(questions)} questions")
        with tempfile.TemporaryDirectory(prefix=f"atlas-qa-{b}-") as tmp:
            replay = Replay(embedders[b], dict(zip(texts, vectors[b])))
            atlas = Atlas(settings.with_(index_dir=Path(tmp), corpus=corpus), embedder=replay)
            atlas.ingest([corpus])
            for method in ("hybrid", "dense"):

                def search(q: str, method: str = method, atlas: Atlas = atlas) -> list[str]:
                    return [page for page, _ in atlas.search(q, k=10, method=method).pages[:10]]

                report = evaluate(search, questions, ks=(1, 5, 10), retriever_name=method)
                row[f"{method}_recall@5"] = report.metrics["recall@5"]
                row[f"{method}_mrr@10"] = report.metrics["mrr@10"]
            # `ask` refuses under a relevance threshold calibrated on fp32 similarities: does it move?
            top = np.array([atlas.search(q.question).top_similarity for q in questions])
            tops[b] = top
            row["top_similarity_mean"] = round(float(top.mean()), 4)
            if args.out_of_scope:
                outside = [q.question for q in load_questions(args.out_of_scope, require_gold=False)]
                inside = [q.question for q in questions]
                rates = refusal_rates(lambda q, atlas=atlas: atlas.ask(q).refused, inside, outside)
                row["refused_in_scope"] = rates["in_scope_refused"]
                row["refused_out_of_scope"] = rates["out_of_scope_refused"]
        if b != "torch":
            shift = tops[b] - tops["torch"]
            row["top_similarity_shift_mean"] = round(float(shift.mean()), 4)
            row["top_similarity_shift_abs_p95"] = round(float(np.percentile(np.abs(shift), 95)), 4)
        results[b] = row

    out = {"machine": machine(), "chunks": len(texts), "questions": len(questions), "backends": results}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    m = out["machine"]
    print(f"{len(texts)} chunks, {len(questions)} questions; {m['nproc']} cores, {m['cpu']}, load {m['loadavg']}")
    keys = list(dict.fromkeys(k for row in results.values() for k in row))
    print(f"{'':<30}" + "".join(f"{b:>12}" for b in results))
    for k in keys:
        print(f"{k:<30}" + "".join(f"{results[b].get(k, '-')!s:>12}" for b in results))
    ref = results["torch"]
    for b, row in results.items():
        if b != "torch":
            deltas = {k: round(float(row[k]) - float(ref[k]), 4) for k in keys if "@" in k or "refused" in k}  # type: ignore[arg-type]
            print(f"{b} minus torch: {deltas}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
