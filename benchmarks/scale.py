"""Retrieval at scale: the real index, then copies of its pages up to each size, each timed in a fresh process.

Pages are copied whole (page id, chunk ids and title get a copy number; chunk texts and offsets are unchanged)
until the size is reached; copy 0 is the real corpus. Vectors are the real ones plus small Gaussian noise,
renormalised: nothing is re-encoded. The copies are written through `atlas_qa.ingest.write_pages`, the index's one
write path, then the ordinary `Retriever.search` path (dense + BM25 + page signals) is timed on the same questions.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from atlas_qa.config import Settings
from atlas_qa.errors import AtlasError
from atlas_qa.evaluate.metrics import percentile

from .system import CARRIED, WARMUP, ms, peak_rss_mb, rss_mb

SCALE_NOISE = 0.01  # per-dimension sigma of the perturbation: replicated vectors keep cosine ~0.98 to their source
PAGES_PER_WRITE = 1000


def scale(
    atlas: Any,
    settings: Settings,
    sizes: Sequence[int],
    questions: list[str],
    work: Path,
    env: dict[str, str],
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Retrieval latency and memory at the real size and at each replicated size, each in a fresh process."""
    import numpy as np

    from atlas_qa.store.records import document_to_json

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
    for size in (len(ids), *sorted(s for s in sizes if s > len(ids))):
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
        code = "import sys\nfrom benchmarks.scale import scale_worker\nscale_worker(sys.argv[1])"
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

    from atlas_qa.embedding import embedder_for
    from atlas_qa.retrieve import Retriever
    from atlas_qa.store.index import Index
    from atlas_qa.store.records import document_from_json
    from atlas_qa.types import Chunk

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
    total = bulk_fill(index, chunks, np.load(spec["vectors"]), docs, by_page, int(spec["size"]))
    build_s = time.perf_counter() - start

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
        latencies.append(ms(start))
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


def bulk_fill(
    index: Any, chunks: list[Any], vectors: Any, docs: dict[str, Any], by_page: dict[str, list[int]], size: int
) -> int:
    """Write copies of the pages into the index through the index's one write path, `ingest.write_pages` (the
    ingest itself would re-chunk and re-embed them); returns the number of chunks written."""
    import dataclasses

    import numpy as np

    from atlas_qa.ingest import PageWrite, write_pages

    rng = np.random.default_rng(0)
    pages: list[tuple[Any, list[Any], list[int]]] = []  # (document, chunks, rows of `vectors`)
    total, copy, first = 0, 0, 0
    while total < size:
        for pid, members in by_page.items():
            if total >= size:
                break
            doc = docs[pid]
            tag = "" if copy == 0 else f"~r{copy}"
            if tag:
                doc = dataclasses.replace(
                    doc,
                    page_id=pid + tag,
                    title=f"{doc.title} (copy {copy})",
                    source=str(Path(doc.source).resolve()) + tag,
                )
            page_chunks = [
                dataclasses.replace(chunks[i], id=chunks[i].id + tag, page_id=doc.page_id, title=doc.title)
                if tag
                else chunks[i]
                for i in members
            ]
            pages.append((doc, page_chunks, members))
            total += len(members)
        if copy == 0:
            first = total  # the real corpus ends here; copies after it get perturbed vectors
        copy += 1
    vecs = vectors[[i for _, _, rows in pages for i in rows]].copy()
    if first < total:
        noise = rng.normal(0.0, SCALE_NOISE, size=(total - first, vecs.shape[1])).astype(np.float32)
        vecs[first:] += noise
        vecs[first:] /= np.linalg.norm(vecs[first:], axis=1, keepdims=True)
    items, at = [], 0
    for doc, page_chunks, _ in pages:
        items.append(PageWrite(doc, page_chunks, vecs[at : at + len(page_chunks)]))
        at += len(page_chunks)
    for start in range(0, len(items), PAGES_PER_WRITE):
        write_pages(index, items[start : start + PAGES_PER_WRITE])
    return total
