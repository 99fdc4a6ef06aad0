"""`atlas-qa bench` (`python -m benchmarks.bench`): how fast ingest, retrieval, `ask`, re-ingest, cold start and
`--help` are, each beside a bare baseline measured in the same run (so another load on the machine moves both),
and how retrieval scales (`scale.py`).

Everything runs on a copy of the corpus in a temporary index folder; the user's index is never touched. Times are
wall-clock; percentiles exclude warm-up calls. It reports numbers and ratios only; the targets, and how the
measured runs compare with them, are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_qa.config import BACKENDS, Settings
from atlas_qa.errors import AtlasError
from atlas_qa.evaluate.metrics import percentile

from .report import format_table, plot
from .scale import scale
from .system import WARMUP, bench_settings, child_env, machine, ms, peak_rss_mb, settings_env, timed_runs

SCALE_SIZES = (10_000, 100_000)
COLD_RUNS = 3
EDIT = "\n\nThis sentence was added by the benchmark to change the page.\n"

# A bare sentence-transformers + Chroma query, the baseline of a cold `atlas-qa ask`.
RAW_COLD = """
import sys
import chromadb
from chromadb.config import Settings
from sentence_transformers import SentenceTransformer
path, chroma, collection, question = sys.argv[1:5]
model = SentenceTransformer(path, device="cpu", local_files_only=True)
client = chromadb.PersistentClient(path=chroma, settings=Settings(anonymized_telemetry=False))
hits = client.get_collection(collection).query(
    query_embeddings=model.encode([question], normalize_embeddings=True), n_results=10
)
assert hits["ids"][0]
"""


@dataclass(frozen=True)
class BenchOptions:
    """What to measure. `scale` lists replicated corpus sizes (chunks); the real corpus is always measured first."""

    corpus: Path
    questions: Path
    scale: tuple[int, ...] = SCALE_SIZES
    max_questions: int = 300
    cold_runs: int = COLD_RUNS


def default_questions(corpus: Path) -> Path:
    """questions.jsonl beside the corpus folder (the layout of the polisci corpus: pages/ and questions.jsonl)."""
    beside = Path(corpus).parent / "questions.jsonl"
    if not beside.is_file():
        raise AtlasError(f"No questions.jsonl beside {corpus}: give the question set with --questions FILE.")
    return beside


# ----------------------------------------------------------------------------------------------------- the run


def run(settings: Settings, options: BenchOptions, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure everything on a temporary copy of `options.corpus`; return the results as plain JSON-able data.

    Args:
        settings: model, backend and batch size to measure (its index folder is not used).
        options: corpus, questions and scale sizes.
        log: progress messages (default: standard error).

    Returns:
        {"ingest", "query", "reingest_noop_s", "reingest_one_page_s", "cold_ask_s", "raw_cold_s", "help_s",
        "peak_rss_mb", "scale": [...]} and context (model, backend, machine, counts); see docs/performance.md.
    """
    from atlas_qa.core import Atlas
    from atlas_qa.embedding import OnnxEmbedder, SentenceTransformerEmbedder, embedder_for, resolve_model_path
    from atlas_qa.evaluate.datasets import load_questions

    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not Path(options.corpus).is_dir():
        raise AtlasError(f"The benchmark corpus {options.corpus} is not a folder (use --corpus DIR).")
    questions = [q.question for q in load_questions(Path(options.questions))][: options.max_questions]
    if len(questions) <= WARMUP:
        raise AtlasError(f"{options.questions} has {len(questions)} questions; the benchmark needs more than {WARMUP}.")
    embedder = embedder_for(settings)
    backend_name = getattr(embedder, "backend", "-")
    result: dict[str, Any] = {
        "model": embedder.name,
        "backend": backend_name,
        "batch_size": settings.batch_size,
        "machine": machine(),
        "corpus": str(options.corpus),
        "questions": len(questions),
    }

    with tempfile.TemporaryDirectory(prefix="atlas-qa-bench-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus"
        shutil.copytree(options.corpus, corpus)
        measured = bench_settings(settings, index_dir=work / "index", corpus=corpus)
        atlas = Atlas(measured, embedder=embedder)

        say(f"bench: loading {embedder.name} ({backend_name}) and opening the store")
        # Both sides start warm: the model loaded (the baseline's too) and the store opened.
        embedder.embed_batch(["warm-up: load the model before the clock starts"])
        atlas.index.collection  # noqa: B018
        texts = _chunk_texts(corpus, measured, embedder)

        def raw_encode(part: list[str]) -> float:
            start = time.perf_counter()
            if isinstance(embedder, SentenceTransformerEmbedder):
                embedder.model.encode(part, batch_size=settings.batch_size, normalize_embeddings=True)
            else:
                embedder.embed_batch(part)  # the ONNX backends' bare encode: tokenise, run, pool
            return time.perf_counter() - start

        # Raw encode of one half of the chunk texts before the ingest and of the other half after it, so a load
        # that drifts during the run weighs on both sides.
        halves = texts[0::2], texts[1::2]
        say(f"bench: raw encode of {len(halves[0])} of the {len(texts)} chunk texts")
        raw_s = raw_encode(halves[0])
        say("bench: ingest")
        start = time.perf_counter()
        report = atlas.ingest([corpus])
        ingest_s = time.perf_counter() - start
        say(f"bench: raw encode of the other {len(halves[1])} chunk texts")
        raw_s += raw_encode(halves[1])
        stored = sorted(c.embed_text for c in atlas.index.chunks)
        if stored != sorted(texts):
            raise AtlasError("the chunk texts the benchmark encoded differ from the ones the ingest stored")
        result["ingest"] = {
            "chunks": report.embedded,
            "seconds": round(ingest_s, 2),
            "raw_encode_seconds": round(raw_s, 2),
            "chunks_per_s": round(report.embedded / ingest_s, 2),
            "raw_encode_chunks_per_s": round(len(texts) / raw_s, 2),
            "ratio": round((report.embedded / ingest_s) / (len(texts) / raw_s), 3),
        }

        say(f"bench: {len(questions)} questions (retrieve, ask, raw encode + query), {WARMUP} warm-up")
        result["query"] = _query_latencies(atlas, embedder, questions)

        say("bench: re-ingest")
        start = time.perf_counter()
        noop = atlas.ingest([corpus])
        result["reingest_noop_s"] = round(time.perf_counter() - start, 3)
        result["reingest_noop_embedded"] = noop.embedded
        page = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix in (".md", ".txt"))[0]
        with page.open("a", encoding="utf-8") as handle:
            handle.write(EDIT)
        start = time.perf_counter()
        edited = atlas.ingest([corpus])
        result["reingest_one_page_s"] = round(time.perf_counter() - start, 3)
        result["reingest_one_page_embedded"] = edited.embedded
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)

        say(f"bench: cold start ({options.cold_runs} runs each after one untimed run)")
        index_dir = measured.index_dir
        env = child_env(**settings_env(measured))  # the same model, backend and export cache
        question = questions[0]
        cli = [sys.executable, "-m", "atlas_qa.cli"]
        result["cold_ask_s"] = round(timed_runs([*cli, "ask", question], env, options.cold_runs), 3)
        if isinstance(embedder, (SentenceTransformerEmbedder, OnnxEmbedder)):
            raw_cmd = [sys.executable, "-c", RAW_COLD, resolve_model_path(settings.model)]
            raw_cmd += [str(index_dir / "chroma"), atlas.index.collection.name, question]
            result["raw_cold_s"] = round(timed_runs(raw_cmd, env, options.cold_runs), 3)
        else:
            result["raw_cold_s"] = None  # the test embedder has no sentence-transformers model to load
        result["cold_ratio"] = round(result["cold_ask_s"] / result["raw_cold_s"], 3) if result["raw_cold_s"] else None
        result["help_s"] = round(timed_runs([*cli, "--help"], env, options.cold_runs), 3)
        result["python_startup_s"] = round(timed_runs([sys.executable, "-c", "pass"], env, options.cold_runs), 3)

        result["scale"] = scale(atlas, measured, options.scale, questions, work, env, say)
    return result


def _chunk_texts(corpus: Path, settings: Settings, embedder: Any) -> list[str]:
    """The texts the ingest will embed (the same loader and chunker), in corpus order."""
    from atlas_qa.chunking import chunk_document
    from atlas_qa.loaders import load_corpus

    docs = load_corpus([corpus]).documents
    return [c.embed_text for d in docs for c in chunk_document(d, settings.chunk_tokens, embedder.fits_all)]


def _query_latencies(atlas: Any, embedder: Any, questions: list[str]) -> dict[str, Any]:
    """Warm per-question latencies of `search`, `ask`, and the bare baseline, interleaved question by question."""
    from atlas_qa.embedding import SentenceTransformerEmbedder

    collection = atlas.index.collection
    if isinstance(embedder, SentenceTransformerEmbedder):
        model = embedder.model

        def encode(q: str) -> Any:
            return model.encode([q], normalize_embeddings=True)
    else:

        def encode(q: str) -> Any:
            return embedder.embed_batch([q])

    retrieve, ask, raw = [], [], []
    for n, q in enumerate(questions):
        start = time.perf_counter()
        atlas.search(q)
        t_retrieve = ms(start)
        start = time.perf_counter()
        atlas.ask(q)
        t_ask = ms(start)
        start = time.perf_counter()
        collection.query(query_embeddings=encode(q), n_results=10, include=["distances"])
        t_raw = ms(start)
        if n >= WARMUP:
            retrieve.append(t_retrieve)
            ask.append(t_ask)
            raw.append(t_raw)
    p50 = {name: percentile(v, 50) for name, v in (("retrieve", retrieve), ("ask", ask), ("raw", raw))}
    p95 = {name: percentile(v, 95) for name, v in (("retrieve", retrieve), ("ask", ask), ("raw", raw))}
    return {
        "n": len(retrieve),
        "retrieve_p50_ms": round(p50["retrieve"], 2),
        "retrieve_p95_ms": round(p95["retrieve"], 2),
        "raw_p50_ms": round(p50["raw"], 2),
        "raw_p95_ms": round(p95["raw"], 2),
        "ratio_p50": round(p50["retrieve"] / p50["raw"], 3) if p50["raw"] else None,
        "ratio_p95": round(p95["retrieve"] / p95["raw"], 3) if p95["raw"] else None,
        "ask_p50_ms": round(p50["ask"], 2),
        "ask_p95_ms": round(p95["ask"], 2),
    }


# ----------------------------------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `bench` options."""
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: $ATLAS_QA_CORPUS or corpus/)")
    parser.add_argument(
        "--questions", type=Path, help="JSONL question set (default: questions.jsonl beside the corpus)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="write latency and memory against corpus size")
    parser.add_argument(
        "--scale",
        default=",".join(map(str, SCALE_SIZES)),
        metavar="N,N",
        help="replicated corpus sizes in chunks (default 10000,100000; '' for none)",
    )
    parser.add_argument("--max-questions", type=int, default=300, metavar="N", help="questions timed (default 300)")


def cli(args: argparse.Namespace, settings: Settings) -> int:
    """Run `bench` from parsed arguments: print the table (or JSON) and write the plot if asked."""
    corpus = args.corpus or settings.corpus
    try:
        scale = tuple(int(s) for s in str(getattr(args, "scale", "") or "").split(",") if s.strip())
    except ValueError:
        raise AtlasError(f"--scale takes chunk counts separated by commas, not {args.scale!r}.") from None
    options = BenchOptions(
        corpus=corpus,
        questions=args.questions or default_questions(corpus),
        scale=scale,
        max_questions=getattr(args, "max_questions", 300),
    )
    result = run(settings, options)
    if args.plot:
        plot(result, args.plot)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.bench [options]` (what `atlas-qa bench` runs): settings from `ATLAS_QA_*` and flags."""
    parser = argparse.ArgumentParser(prog="atlas-qa bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--model", help="embedding model (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--backend", choices=BACKENDS, help="how the model runs (default: onnx-int8)")
    args = parser.parse_args(argv)
    try:
        return cli(args, Settings.from_env(model=args.model, backend=args.backend))
    except AtlasError as exc:
        print(f"atlas-qa bench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
