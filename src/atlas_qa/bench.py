"""`atlas-qa bench`: how fast ingest, retrieval, `ask`, re-ingest, cold start and `--help` are, each beside a bare
baseline measured in the same run (so another load on the machine moves both), and how retrieval scales.

Everything runs on a copy of the corpus in a temporary index folder; the user's index is never touched. Times are
wall-clock; percentiles exclude warm-up calls. Nothing here passes or fails on time: it reports numbers and ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import AtlasError
from .evaluate.metrics import percentile

POLISCI = Path("/work/shared/corpora/openstax-polisci")
SCALE_SIZES = (10_000, 100_000)
WARMUP = 5
COLD_RUNS = 3
SCALE_NOISE = 0.01  # per-dimension sigma of the perturbation: replicated vectors keep cosine ~0.98 to their source
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


def default_corpus() -> Path:
    """The polisci pages when this machine has them, else the project's corpus/ folder."""
    pages = POLISCI / "pages"
    return pages if pages.is_dir() else Path("corpus")


def default_questions(corpus: Path) -> Path:
    """questions.jsonl beside the corpus folder (the polisci layout), else the polisci question set."""
    beside = Path(corpus).parent / "questions.jsonl"
    return beside if beside.is_file() else POLISCI / "questions.jsonl"


# ----------------------------------------------------------------------------------------------------- measuring


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc; falls back to the peak elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def machine() -> dict[str, Any]:
    """What the numbers were measured on: core count, CPU model, Python and platform."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {"nproc": os.cpu_count() or 0, "cpu": cpu, "python": platform.python_version(), "loadavg": load}


def _timed_runs(cmd: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall time of `runs` runs of a command, after one untimed run (disk cache, exported models)."""
    times = []
    for n in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise AtlasError(f"benchmark command failed ({' '.join(cmd[:4])} ...): {done.stderr.strip()[-500:]}")
        if n:
            times.append(elapsed)
    return statistics.median(times)


# The settings that change what is measured; storage ones (course, a Chroma server...) stay at their defaults so the
# benchmark always writes a fresh embedded index in its temporary folder.
CARRIED = ("model", "device", "batch_size", "chunk_tokens", "k", "fetch_k", "refuse_below", "backend", "cache_dir")


def _bench_settings(settings: Settings, **changes: Any) -> Settings:
    carried = {f: getattr(settings, f) for f in CARRIED}
    return Settings(**{**carried, **changes})


def _settings_env(settings: Settings) -> dict[str, str]:
    """`ATLAS_QA_*` variables that give a child process the same settings."""
    return {f"ATLAS_QA_{f.upper()}": str(getattr(settings, f)) for f in ("index_dir", *CARRIED)}


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_QA_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}, **extra)
    return env


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
    from .core import Atlas
    from .embedding import OnnxEmbedder, SentenceTransformerEmbedder, embedder_for, resolve_model_path
    from .evaluate.datasets import load_questions

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
        bench_settings = _bench_settings(settings, index_dir=work / "index", corpus=corpus)
        atlas = Atlas(bench_settings, embedder=embedder)

        say(f"bench: loading {embedder.name} ({backend_name}) and opening the store")
        # Both sides start warm: the model loaded (the baseline's too) and the store opened.
        embedder.embed_batch(["warm-up: load the model before the clock starts"])
        atlas.index.collection  # noqa: B018
        texts = _chunk_texts(corpus, bench_settings, embedder)

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
        index_dir = bench_settings.index_dir
        env = _child_env(**_settings_env(bench_settings))  # the same model, backend and export cache
        question = questions[0]
        cli = [sys.executable, "-m", "atlas_qa.cli"]
        result["cold_ask_s"] = round(_timed_runs([*cli, "ask", question], env, options.cold_runs), 3)
        if isinstance(embedder, (SentenceTransformerEmbedder, OnnxEmbedder)):
            raw_cmd = [sys.executable, "-c", RAW_COLD, resolve_model_path(settings.model)]
            raw_cmd += [str(index_dir / "chroma"), atlas.index.collection.name, question]
            result["raw_cold_s"] = round(_timed_runs(raw_cmd, env, options.cold_runs), 3)
        else:
            result["raw_cold_s"] = None  # the test embedder has no sentence-transformers model to load
        result["cold_ratio"] = round(result["cold_ask_s"] / result["raw_cold_s"], 3) if result["raw_cold_s"] else None
        result["help_s"] = round(_timed_runs([*cli, "--help"], env, options.cold_runs), 3)
        result["python_startup_s"] = round(_timed_runs([sys.executable, "-c", "pass"], env, options.cold_runs), 3)

        result["scale"] = _scale(atlas, bench_settings, options, questions, work, env, say)
    return result


def _chunk_texts(corpus: Path, settings: Settings, embedder: Any) -> list[str]:
    """The texts the ingest will embed (the same loader and chunker), in corpus order."""
    from .chunking import chunk_document
    from .loaders import load_corpus

    docs = load_corpus([corpus]).documents
    return [c.embed_text for d in docs for c in chunk_document(d, settings.chunk_tokens, embedder.fits_all)]


def _query_latencies(atlas: Any, embedder: Any, questions: list[str]) -> dict[str, Any]:
    """Warm per-question latencies of `search`, `ask`, and the bare baseline, interleaved question by question."""
    from .embedding import SentenceTransformerEmbedder

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
        t_retrieve = _ms(start)
        start = time.perf_counter()
        atlas.ask(q)
        t_ask = _ms(start)
        start = time.perf_counter()
        collection.query(query_embeddings=encode(q), n_results=10, include=["distances"])
        t_raw = _ms(start)
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


# ----------------------------------------------------------------------------------------------------- scale


def _scale(
    atlas: Any,
    settings: Settings,
    options: BenchOptions,
    questions: list[str],
    work: Path,
    env: dict[str, str],
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Retrieval latency and memory at the real size and at each replicated size, each in a fresh process."""
    import numpy as np

    from .store.records import document_to_json

    index = atlas.index
    chunks = list(index.chunks)
    ids = [c.id for c in chunks]
    vectors = np.zeros((len(ids), index.embedder.dimension), dtype=np.float32)
    for start in range(0, len(ids), 4096):
        got = index.collection.get(ids=ids[start : start + 4096], include=["embeddings"])
        where = {cid: i for i, cid in enumerate(got["ids"])}
        batch = np.asarray(got["embeddings"], dtype=np.float32)
        for offset, cid in enumerate(ids[start : start + 4096]):
            vectors[start + offset] = batch[where[cid]]
    np.save(work / "vectors.npy", vectors)
    base = {
        "chunks": [asdict(c) for c in chunks],
        "documents": {pid: document_to_json(index.document(pid)) for pid in index.page_ids},
        "questions": questions,
    }
    (work / "base.json").write_text(json.dumps(base, ensure_ascii=False), encoding="utf-8")

    rows = []
    for size in (len(ids), *sorted(s for s in options.scale if s > len(ids))):
        say(f"bench: scale {size:,} chunks")
        spec = {
            "base": str(work / "base.json"),
            "vectors": str(work / "vectors.npy"),
            "index_dir": str(work / f"scale-{size}"),
            "size": size,
            "settings": {f: getattr(settings, f) for f in CARRIED},
        }
        spec_path = work / f"scale-{size}.json"
        spec_path.write_text(json.dumps(spec, default=str), encoding="utf-8")
        code = "import sys\nfrom atlas_qa.bench import scale_worker\nscale_worker(sys.argv[1])"
        done = subprocess.run([sys.executable, "-c", code, str(spec_path)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise AtlasError(f"the scale run at {size:,} chunks failed: {done.stderr.strip()[-800:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        shutil.rmtree(work / f"scale-{size}", ignore_errors=True)
    return rows


def scale_worker(spec_path: str) -> None:
    """One scale point, in its own process so its memory is its own: build a replicated index, time retrieval.

    Pages are copied whole (page id, chunk ids and title get a copy number; chunk texts and offsets are unchanged)
    until the size is reached; copy 0 is the real corpus. Vectors are the real ones plus small Gaussian noise,
    renormalised: nothing is re-encoded. The index is filled in bulk, then the ordinary `Retriever.search` path
    (dense + BM25 + page signals) is timed on the same questions.
    """
    import numpy as np

    from .embedding import embedder_for
    from .retrieve import Retriever
    from .store.index import Index
    from .store.records import document_from_json
    from .types import Chunk

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    base = json.loads(Path(spec["base"]).read_text(encoding="utf-8"))
    carried = {**spec["settings"], "cache_dir": Path(spec["settings"]["cache_dir"])}
    settings = Settings(**carried, index_dir=Path(spec["index_dir"]))
    embedder = embedder_for(settings)
    chunks = [Chunk(**c) for c in base["chunks"]]
    docs = {pid: document_from_json(raw) for pid, raw in base["documents"].items()}
    by_page: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        by_page.setdefault(c.page_id, []).append(i)

    index = Index(settings, embedder)
    start = time.perf_counter()
    total = _bulk_fill(index, chunks, np.load(spec["vectors"]), docs, by_page, int(spec["size"]))
    build_s = time.perf_counter() - start
    if index.count() != total:
        raise AtlasError(
            f"the scale index holds {index.count()} chunks, not {total}: _bulk_fill is out of step with index.py"
        )

    retriever = Retriever(index, embedder, settings.fetch_k)
    questions = base["questions"]
    start = time.perf_counter()
    for q in questions[:WARMUP]:
        retriever.search(q, settings.k)  # loads the chunks, builds BM25 and the page signals
    warmup_s = time.perf_counter() - start
    latencies = []
    for q in questions[WARMUP:]:
        start = time.perf_counter()
        retriever.search(q, settings.k)
        latencies.append(_ms(start))
    print(
        json.dumps(
            {
                "chunks": total,
                "pages": len(index.page_ids),
                "retrieve_p50_ms": round(percentile(latencies, 50), 2),
                "retrieve_p95_ms": round(percentile(latencies, 95), 2),
                "rss_mb": round(rss_mb(), 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "build_s": round(build_s, 1),
                "warmup_s": round(warmup_s, 2),
            }
        )
    )


def _bulk_fill(
    index: Any, chunks: list[Any], vectors: Any, docs: dict[str, Any], by_page: dict[str, list[int]], size: int
) -> int:
    """Write copies of the pages into the index in bulk (`Index.sync` would re-chunk and write page by page).

    Mirrors `Index._write_pages`: chunk records (vector, text, fields) and page records (document JSON, hash, chunk
    ids), then a new generation. `scale_worker` checks the result with `Index.count()`.
    """
    import dataclasses

    import numpy as np

    from .store.records import chunk_metadata, document_to_json

    rng = np.random.default_rng(0)
    as_json = {pid: json.loads(document_to_json(doc)) for pid, doc in docs.items()}  # asdict() once, not per copy
    ids: list[str] = []
    texts: list[str] = []
    metas: list[dict[str, Any]] = []
    picks: list[int] = []
    page_ids: list[str] = []
    page_docs: list[str] = []
    page_metas: list[dict[str, Any]] = []
    copy, first = 0, 0
    while len(ids) < size:
        for pid, members in by_page.items():
            if len(ids) >= size:
                break
            doc = docs[pid]
            tag = "" if copy == 0 else f"~r{copy}"
            if tag:
                doc = dataclasses.replace(doc, page_id=pid + tag, title=f"{doc.title} (copy {copy})")
            doc_json = json.dumps(
                {**as_json[pid], "page_id": doc.page_id, "title": doc.title}, ensure_ascii=False, sort_keys=True
            )
            page_chunk_ids = []
            for i in members:
                c = chunks[i]
                if tag:
                    c = dataclasses.replace(c, id=c.id + tag, page_id=doc.page_id, title=doc.title)
                ids.append(c.id)
                texts.append(c.text)
                metas.append(chunk_metadata(c, doc))
                picks.append(i)
                page_chunk_ids.append(c.id)
            page_ids.append(doc.page_id)
            page_docs.append(doc_json)
            page_metas.append(
                {
                    "hash": hashlib.sha256(doc_json.encode("utf-8", "surrogatepass")).hexdigest(),  # never re-synced
                    "source": str(Path(doc.source).resolve()) + tag,
                    "n_chunks": len(members),
                    "indexed_at": time.time(),
                    "chunk_ids": json.dumps(page_chunk_ids),
                }
            )
        if copy == 0:
            first = len(ids)  # the real corpus ends here; copies after it get perturbed vectors
        copy += 1
    vecs = vectors[picks].copy()
    if first < len(ids):
        noise = rng.normal(0.0, SCALE_NOISE, size=(len(ids) - first, vecs.shape[1])).astype(np.float32)
        vecs[first:] += noise
        vecs[first:] /= np.linalg.norm(vecs[first:], axis=1, keepdims=True)
    step = 4096
    for start in range(0, len(ids), step):
        end = start + step
        index.collection.add(
            ids=ids[start:end], embeddings=vecs[start:end], documents=texts[start:end], metadatas=metas[start:end]
        )
    for start in range(0, len(page_ids), step):
        end = start + step
        index.pages_collection.add(
            ids=page_ids[start:end],
            embeddings=[[0.0]] * len(page_ids[start:end]),
            documents=page_docs[start:end],
            metadatas=page_metas[start:end],
        )
    index.set_meta(generation=index.generation() + 1)
    return len(ids)


# ----------------------------------------------------------------------------------------------------- output


def _rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(measure, ours, baseline, ratio, target) rows of the summary table."""
    ing, q = r["ingest"], r["query"]

    def ok(flag: bool | None) -> str:
        return "" if flag is None else ("ok" if flag else "MISSED")

    cold_ratio = r.get("cold_ratio")
    rows = [
        (
            "ingest (chunks/s)",
            f"{ing['chunks_per_s']:.1f}",
            f"{ing['raw_encode_chunks_per_s']:.1f}",
            f"{ing['ratio']:.2f}x",
            f">= 0.9x {ok(ing['ratio'] >= 0.9)}",
        ),
        (
            "retrieve p50 (ms)",
            f"{q['retrieve_p50_ms']:.1f}",
            f"{q['raw_p50_ms']:.1f}",
            f"{q['ratio_p50']:.2f}x",
            f"<= 1.5x {ok(q['ratio_p50'] <= 1.5)}",
        ),
        (
            "retrieve p95 (ms)",
            f"{q['retrieve_p95_ms']:.1f}",
            f"{q['raw_p95_ms']:.1f}",
            f"{q['ratio_p95']:.2f}x",
            f"<= 2x {ok(q['ratio_p95'] <= 2)}",
        ),
        (
            "ask p50 / p95 (ms)",
            f"{q['ask_p50_ms']:.1f} / {q['ask_p95_ms']:.1f}",
            "",
            "",
            f"p50 <= 60 {ok(q['ask_p50_ms'] <= 60)}",
        ),
        ("no-op re-ingest (s)", f"{r['reingest_noop_s']:.2f}", "", "", f"<= 2 {ok(r['reingest_noop_s'] <= 2)}"),
        (
            "one-page re-ingest (s)",
            f"{r['reingest_one_page_s']:.2f}",
            "",
            "",
            f"<= 5 {ok(r['reingest_one_page_s'] <= 5)}",
        ),
        (
            "cold ask (s)",
            f"{r['cold_ask_s']:.2f}",
            f"{r['raw_cold_s']:.2f}" if r["raw_cold_s"] else "-",
            f"{cold_ratio:.2f}x" if cold_ratio else "",
            f"<= 1.2x {ok(cold_ratio <= 1.2 if cold_ratio else None)}",
        ),
        ("--help (s)", f"{r['help_s']:.2f}", f"{r['python_startup_s']:.2f}", "", f"<= 0.5 {ok(r['help_s'] <= 0.5)}"),
        ("peak RSS (MB)", f"{r['peak_rss_mb']:.0f}", "", "", ""),
    ]
    for s in r["scale"]:
        rows.append(
            (
                f"retrieve @ {s['chunks']:,} chunks p50 / p95 (ms)",
                f"{s['retrieve_p50_ms']:.1f} / {s['retrieve_p95_ms']:.1f}",
                "",
                "",
                f"RSS {s['rss_mb']:.0f} MB"
                + (f"; p95 <= 100 {ok(s['retrieve_p95_ms'] <= 100)}" if s["chunks"] >= 100_000 else ""),
            )
        )
    return rows


def format_table(r: dict[str, Any]) -> str:
    """The results as an aligned plain-text table, with the machine and the targets."""
    header = ("measure", "atlas-qa", "baseline", "ratio", "target")
    rows = _rows(r)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    m = r["machine"]
    head = [
        f"model {r['model']} (backend {r['backend']}, batch {r['batch_size']}), {r['ingest']['chunks']} chunks, "
        f"{r['query']['n']} timed questions",
        f"machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, load average {m['loadavg']}",
    ]
    return "\n".join([*head, "", line(header), line(["-" * w for w in widths]), *map(line, rows)])


def plot(r: dict[str, Any], path: Path) -> Path:
    """Retrieval latency (p50, p95) and memory against corpus size, as a PNG."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise AtlasError("plotting needs matplotlib: pip install matplotlib") from None

    sizes = [s["chunks"] for s in r["scale"]]
    fig = Figure(figsize=(9, 3.8), dpi=120)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    left.plot(sizes, [s["retrieve_p50_ms"] for s in r["scale"]], marker="o", label="p50")
    left.plot(sizes, [s["retrieve_p95_ms"] for s in r["scale"]], marker="o", label="p95")
    left.axhline(100, color="grey", linestyle="--", linewidth=1, label="100 ms")
    left.set_ylabel("retrieval latency (ms)")
    right.plot(sizes, [s["rss_mb"] for s in r["scale"]], marker="o", label="RSS after queries")
    right.plot(sizes, [s["peak_rss_mb"] for s in r["scale"]], marker="o", label="peak RSS")
    right.set_ylabel("memory (MB)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("chunks in the index")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left")
    fig.suptitle(f"atlas-qa retrieval at scale ({r['backend']}, {r['machine']['nproc']} cores)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


# ----------------------------------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `bench` options, for `atlas-qa bench` and `python -m atlas_qa.bench`."""
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: the polisci pages, else corpus/)")
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
    corpus = args.corpus or default_corpus()
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
    parser = argparse.ArgumentParser(prog="python -m atlas_qa.bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--model", help="embedding model (default: the packaged all-MiniLM-L6-v2)")
    args = parser.parse_args(argv)
    try:
        return cli(args, Settings.from_env(model=args.model))
    except AtlasError as exc:
        print(f"atlas-qa bench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
