"""The Chroma client (embedded or a server), the collections of a course's index (slots), paged reads, why an
index cannot be used, and the one repair made below Chroma's API (`forget_vectors`)."""

from __future__ import annotations

import errno
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..config import Settings
from ..errors import AtlasError, ConfigError, StoreUnavailableError

READ_BATCH = 5000
# Free bytes an embedded index's writes leave on its disk: an ingest stops before going below (Chroma, when the disk
# fills mid-write, can lose writes it acknowledged), and a store error with less than this free is a full disk.
LOW_SPACE = 16 * 1024 * 1024


def make_client(settings: Settings) -> Any:
    """Chroma's embedded client in `settings.index_dir`, or an HTTP client when `settings.chroma_url` is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"ATLAS_QA_CHROMA_URL={settings.chroma_url!r} is not an http(s) URL.")
        headers = {"Authorization": f"Bearer {settings.chroma_token}"} if settings.chroma_token else None
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                headers=headers,
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises several kinds when the server is unreachable
            raise AtlasError(f"Cannot reach the Chroma server at {settings.chroma_url}: {exc}") from None
    path = Path(settings.index_dir) / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # OSError, or chromadb's InternalError "attempt to write a readonly database"
        if disk_full(exc, path):
            raise StoreUnavailableError(disk_full_message(settings.index_dir)) from None
        if isinstance(exc, OSError) or "readonly" in str(exc).replace("-", "").lower():
            raise StoreUnavailableError(read_only_message(settings.index_dir, exc)) from None
        raise


def vectors_damaged(exc: BaseException) -> bool:
    """Whether a Chroma error says it cannot read a collection's vector index (its HNSW files): a write killed while
    Chroma saves them leaves them out of step with its log ("Failed to apply logs to the hnsw segment writer") or
    half-written. Chroma meets this when a process first reads the collection (its "backfill" from the log)."""
    text = str(exc).lower()
    return "backfill request to compactor" in text or "hnsw segment" in text


def forget_vectors(settings: Settings, collection_id: str) -> Any:
    """Delete one embedded collection's vector index, for Chroma to build it anew from its log when next read; its
    records (ids, documents, metadata: in Chroma's SQLite) stay. Vectors older than the log are gone, so this is only
    for collections whose vectors are placeholders (page records, the lock). Returns a new client: the one that met
    the damage keeps the damaged index in memory.

    Below Chroma's API (chromadb 1.x layout: a folder per vector segment, its log position in `max_seq_id`); a
    layout it does not find raises `AtlasError`."""
    root = Path(settings.index_dir) / "chroma"
    query = "SELECT id FROM segments WHERE collection = ? AND scope = 'VECTOR'"
    try:
        with closing(sqlite3.connect(root / "chroma.sqlite3", timeout=30)) as db, db:
            segments = [row[0] for row in db.execute(query, (collection_id,))]
            db.executemany("DELETE FROM max_seq_id WHERE segment_id = ?", [(s,) for s in segments])
    except sqlite3.Error as exc:
        raise AtlasError(f"Chroma's store in {root} is not laid out as atlas-qa knows it ({exc}).") from None
    for segment in segments:
        shutil.rmtree(root / segment, ignore_errors=True)
    return fresh_client(settings)


def fresh_client(settings: Settings) -> Any:
    """A client on a new embedded Chroma, which reads the store's files afresh: Chroma keeps one per folder in a
    process, with the vector indexes it read in memory, and another process's writes since can leave them stale."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return make_client(settings)


def disk_full(exc: BaseException, folder: Path | str | None = None) -> bool:
    """Whether an error says the disk is full (SQLite's "database or disk is full" through Chroma, ENOSPC), or, for
    an error Chroma words otherwise ("Error in compaction: ..."), whether `folder`'s disk has next to no space left."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    if "disk is full" in text or "no space left" in text:
        return True
    if folder is None:
        return False
    try:
        return free_space(folder) < LOW_SPACE
    except OSError:
        return False


def disk_full_message(folder: Path | str, free: int | None = None) -> str:
    """Why the index cannot be used or written when its disk is full, and what to do."""
    left = f" ({free / 1e6:.1f} MB free; atlas-qa keeps {LOW_SPACE // 2**20} MB)" if free is not None else ""
    return (
        f"The disk holding the index folder {folder} is full{left}: free some space (or choose another folder with "
        "--index-dir), then run the command again."
    )


def free_space(folder: Path | str) -> int:
    """Free bytes on the disk of `folder` (or of its nearest existing parent)."""
    where = Path(folder)
    while not where.exists() and where != where.parent:
        where = where.parent
    return shutil.disk_usage(where).free


def read_only_message(folder: Path | str, exc: BaseException) -> str:
    """Why an index folder cannot be used when it cannot be written (Chroma opens its database read-write even to
    read it), and what to do."""
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "its database is read-only"
    return (
        f"The index folder {folder} cannot be written ({why}): atlas-qa needs write access to it, even to read it. "
        "Give write permission, or choose another folder with --index-dir (ATLAS_QA_INDEX_DIR)."
    )


def list_courses(settings: Settings) -> list[str]:
    """Courses that have an index in this store."""
    names = [c if isinstance(c, str) else c.name for c in make_client(settings).list_collections()]
    return sorted(
        n[len("atlas-qa-") : -len("-pages")] for n in names if n.startswith("atlas-qa-") and n.endswith("-pages")
    )


def collection_name(course: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,60}[A-Za-z0-9]|[A-Za-z0-9]", course) or "--" in course:
        raise ConfigError(
            f"Course name {course!r} is not usable: use letters, digits, '.', '_' or '-' (at most 62 characters, "
            "no '--')."
        )
    return f"atlas-qa-{course}"


def slot_names(base: str, slot: str) -> tuple[str, str]:
    """(chunk collection, page-record collection) of a slot of the index `base`; slot "" keeps its records in the
    head (`<base>-pages`)."""
    return (base, f"{base}-pages") if not slot else (f"{base}--{slot}", f"{base}--{slot}-records")


def paged(collection: Any, include: list[str]) -> Iterator[tuple[list[str], list[Any], list[Any], list[Any]]]:
    """Every record of a collection, READ_BATCH at a time: (ids, documents, metadatas, embeddings), None for what
    `include` leaves out."""
    offset = 0
    while True:
        got = collection.get(limit=READ_BATCH, offset=offset, include=include)
        ids = got["ids"]
        if not ids:
            return
        embeddings = got.get("embeddings")
        yield (
            ids,
            got.get("documents") or [None] * len(ids),
            got.get("metadatas") or [None] * len(ids),
            [None] * len(ids) if embeddings is None else list(embeddings),
        )
        if len(ids) < READ_BATCH:
            return
        offset += len(ids)


@dataclass
class Slot:
    """Where a version of the index lives: its chunk and page-record collections, and the facts to record with it."""

    name: str
    chunks: Any
    records: Any
    meta: dict[str, Any] = field(default_factory=dict)


def mismatch_message(where: str, course: str, meta: dict[str, Any], wanted: str) -> str:
    """Why an index cannot be read with this embedder, and what to do."""
    built = str(meta.get("embedding_model"))
    said = (
        f"The index in {where} (course {course!r}) was built with embedding model {built!r} "
        f"(dimension {meta.get('dimension')}), not {wanted!r}. "
    )
    if built.split("@")[0] == wanted.split("@")[0]:  # same model, another backend
        backend = built.split("@")[1] if "@" in built else "torch (or onnx)"
        return said + (
            f"It was built with backend {backend}: set ATLAS_QA_BACKEND (or --backend) to it, or rebuild the index "
            "with this backend: `atlas-qa ingest --rebuild`."
        )
    return said + "Use that model (ATLAS_QA_MODEL), or another --index-dir or course for this one."
