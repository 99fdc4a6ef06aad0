"""One writer per course: an `flock` beside an embedded index; a renewed lease on a Chroma server.

The lease is a record (`LOCK_ID`) in the course's head collection holding the writer's token and when the lease
expires (`expires`, the writer's wall clock). Taking it (Fischer's mutual exclusion over Chroma):
1. read the record: if it exists and has not expired (plus `SKEW_S` for clocks that disagree), watch it: when its
   writer renews it, refuse (that writer is alive); otherwise take it once it has expired (so an ingest after a killed
   one waits at most `LEASE_S + SKEW_S` seconds, and one beside a live one is refused within `LEASE_S / 4`);
2. write our token; if more than `SETTLE_S` passed since step 1 began, give up (another writer may have read the
   record meanwhile): remove our token and refuse;
3. wait `SETTLE_S`, read again: the lease is ours only if our token is still there (a racing writer that read in
   step 1 has written by now, and the later write wins).
While held, a thread renews it every `LEASE_S / 4`, each time reading the record first: another token means the
lease was taken over after ours expired (the process was paused, or cut off from the server), and it is lost. A
renewal never revives a lease that has run out by our own monotonic clock (which counts time stopped), so a writer
that wakes up late cannot extend a lease another writer is about to take. Before every write the writer calls
`check()`, which raises `WriteLockLost` once the lease is lost or has run out: a paused, killed or cut-off writer
stops (or is gone) before another one takes over, so two writers never write at the same time. The remaining
window is one request already sent when its writer was paused; locks that Chroma itself enforced would close it.
"""

from __future__ import annotations

import fcntl
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import AtlasError, StoreUnavailableError, WriteLockLost
from .client import read_only_message

log = logging.getLogger(__name__)

LOCK_ID = "__ingest_lock__"
LEASE_S = 15.0  # how long a lease lasts without renewal: a killed writer's lock is taken over after this
SETTLE_S = 1.0  # Fischer's delay: longer than one writer's read-then-write of the lock record
SKEW_S = 2.0  # clocks of two writers' machines may differ by this much
GUARD_S = 3.0  # a write starts only when the lease has at least this long to run


class Lease:
    """A writer's hold on the lock record in `collection` (see the module docstring)."""

    def __init__(self, collection: Any, where: str, lease_s: float = LEASE_S) -> None:
        self.collection = collection
        self.where = where
        self.lease_s = lease_s
        self.token = secrets.token_hex(8)
        self.valid_until = 0.0  # monotonic
        self.lost = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> dict[str, Any] | None:
        got = self.collection.get(ids=[LOCK_ID], include=["metadatas"])
        return dict(got["metadatas"][0]) if got["ids"] else None

    def _write(self) -> None:
        self.collection.upsert(
            ids=[LOCK_ID], embeddings=[[0.0]], metadatas=[{"token": self.token, "expires": time.time() + self.lease_s}]
        )

    def acquire(self) -> None:
        busy = f"Another ingest is writing to {self.where}; wait for it to finish."
        held = self._record()
        if held and float(held.get("expires", 0)) + SKEW_S > time.time():
            self._outwait(held, busy)
        began = time.monotonic()
        held = self._record()
        if held and float(held.get("expires", 0)) + SKEW_S > time.time():
            raise AtlasError(busy)
        self._write()
        if time.monotonic() - began > SETTLE_S:
            self._remove_if_mine()
            raise AtlasError(f"Another ingest started writing to {self.where} at the same time; try again.")
        time.sleep(SETTLE_S)
        held = self._record()
        if not held or held.get("token") != self.token:
            raise AtlasError(busy)
        self.valid_until = began + self.lease_s
        self._thread = threading.Thread(target=self._renew, name="atlas-qa-lease", daemon=True)
        self._thread.start()

    def _outwait(self, held: dict[str, Any], busy: str) -> None:
        """Wait for a lease that is not renewed (its writer was killed, paused or cut off) to expire; refuse at once
        when its writer renews it (it is alive)."""
        log.info("waiting for the write lock on %s: its holder has stopped renewing it, or is busy", self.where)
        while float(held.get("expires", 0)) + SKEW_S > time.time():
            time.sleep(min(1.0, max(0.05, float(held.get("expires", 0)) + SKEW_S - time.time())))
            now = self._record()
            if now is None:
                return  # released
            if now.get("token") != held.get("token") or now.get("expires") != held.get("expires"):
                raise AtlasError(busy)  # renewed, or taken by a third writer: a live writer holds it

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 4):
            sent = time.monotonic()
            if sent >= self.valid_until:
                self.lost = self.lost or "its lease ran out (the writer was paused or cut off from the server)"
                return
            try:
                held = self._record()
                if not held or held.get("token") != self.token:
                    self.lost = "another writer took over its expired lease"
                    return
                self._write()
            except Exception:  # noqa: BLE001 (server unreachable: retry; check() stops the writer at expiry)
                continue
            self.valid_until = sent + self.lease_s

    def check(self) -> None:
        """Raise `WriteLockLost` unless the lease is ours for at least `GUARD_S` more seconds."""
        if not self.lost and time.monotonic() + GUARD_S > self.valid_until:
            self.lost = "its lease ran out (the writer was paused or cut off from the server)"
        if self.lost:
            raise WriteLockLost(
                f"This ingest lost its write lock on {self.where}: {self.lost}. Nothing more was written; "
                "run it again to finish."
            )

    def _remove_if_mine(self) -> None:
        held = self._record()
        if held and held.get("token") == self.token:
            self.collection.delete(ids=[LOCK_ID])

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lost or time.monotonic() >= self.valid_until:
            return  # another writer may hold it now: never remove theirs
        try:
            self._remove_if_mine()
        except Exception:  # noqa: BLE001 (unreachable or dropped: the lease expires on its own)
            pass


class FileLock:
    """The embedded index's lock: an `flock`, released by the OS when its process dies."""

    def check(self) -> None: ...


@contextmanager
def file_lock(path: Path, where: str) -> Iterator[FileLock]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AtlasError(f"Another ingest is writing to {where}; wait for it to finish.") from None
        try:
            yield FileLock()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def lease(collection: Any, where: str) -> Iterator[Lease]:
    held = Lease(collection, where)
    held.acquire()
    try:
        yield held
    finally:
        held.release()


@contextmanager
def course_lock(lock_file: Path, head: Callable[[], Any] | None, where: str) -> Iterator[Lease | FileLock]:
    """One writer at a time: the `flock` on `lock_file` beside an embedded index, or (with `head`, the course's head
    collection on a Chroma server) a renewed lease. A server that cannot be reached becomes one
    `StoreUnavailableError`; so does an index folder that cannot be written."""
    try:
        if head is not None:
            with lease(head(), where) as held:
                yield held
        else:
            try:
                lock_file.parent.mkdir(parents=True, exist_ok=True)
                open(lock_file, "a").close()  # a read-only folder: one clear error, before anything else
            except OSError as exc:
                raise StoreUnavailableError(read_only_message(lock_file.parent, exc)) from None
            with file_lock(lock_file, where) as locked:
                yield locked
    except Exception as exc:
        if (error := unavailable(exc, where)) is not None:
            raise error from None
        raise


def unavailable(exc: BaseException, where: str) -> StoreUnavailableError | None:
    """The one-line error for a Chroma server that cannot be reached (or went away mid-request), else None."""
    import httpx

    if isinstance(exc, httpx.TransportError):
        return StoreUnavailableError(
            f"The Chroma server at {where} cannot be reached ({type(exc).__name__}: {exc}). Nothing is lost: "
            "pages written so far are whole; run the same command again when the server is back to finish."
        )
    return None
