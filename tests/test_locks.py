"""The write lock on a Chroma server (issue 17): a lease renewed while the writer runs, taken over only after it
expires, never two writers at once; an outage gives one clear line and the next ingest finishes the job.
All against real `chroma run` servers and real `atlas-qa ingest` processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.errors import AtlasError, WriteLockLost
from atlas_qa.store import locks
from atlas_qa.store.client import make_client
from tests.embedder import HASH

from .conftest import DATA
from .live import free_port
from .test_crash import POLISCI

pytestmark = pytest.mark.e2e


def _start_chroma(path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """A real `chroma run` over `path` on a fixed `port` (so that it can be restarted there), once it answers."""
    chroma = Path(sys.executable).with_name("chroma")
    with open(log, "a") as out:
        cmd = [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        )
    for _ in range(300):
        try:
            make_client(Settings(chroma_url=f"http://127.0.0.1:{port}")).heartbeat()
            return proc
        except Exception:  # noqa: BLE001 (not up yet)
            assert proc.poll() is None, f"chroma run did not start: see {log}"
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"chroma run did not start: see {log}")


def _head(url: str, course: str):  # type: ignore[no-untyped-def]
    settings = Settings(chroma_url=url, course=course, model="hash-64", embedder=HASH)
    return make_client(settings).get_or_create_collection(f"atlas-qa-{course}-pages", embedding_function=None)


def test_a_lease_is_renewed_refused_to_others_and_taken_over_only_after_it_expires(chroma_server: str):
    head = _head(chroma_server, "lease-unit")
    first = locks.Lease(head, "the server", lease_s=4.0)
    first.acquire()
    ends = float(first._record()["expires"])  # type: ignore[index]
    deadline = time.monotonic() + 60
    while not (time.time() > ends + 1 and float(first._record()["expires"]) > ends + 1):  # type: ignore[index]
        assert time.monotonic() < deadline, "the lease was not renewed"
        time.sleep(0.2)  # until the first term is over, the record renewed past it: only renewal keeps it
    first.check()
    with pytest.raises(AtlasError, match="Another ingest is writing"):
        locks.Lease(head, "the server", lease_s=4.0).acquire()  # watched it being renewed: refused, not taken
    first._stop.set()  # the writer stops renewing (as a paused or cut-off process does)
    first._thread.join()  # type: ignore[union-attr]
    second = locks.Lease(head, "the server", lease_s=4.0)
    began = time.monotonic()
    second.acquire()  # waits for the expiry, then takes over
    waited = time.monotonic() - began
    assert 4.0 - locks.SETTLE_S < waited < 4.0 + locks.SKEW_S + 3 * locks.SETTLE_S + 2, waited
    with pytest.raises(WriteLockLost, match="lost its write lock"):
        first.check()
    first.release()  # must not remove the new holder's record
    assert head.get(ids=[locks.LOCK_ID], include=["metadatas"])["metadatas"][0]["token"] == second.token
    second.release()
    assert head.get(ids=[locks.LOCK_ID])["ids"] == []


def _env(url: str, course: str) -> dict[str, str]:
    src = str(Path(locks.__file__).resolve().parents[2])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([src, os.environ["PYTHONPATH"]]),
        "HF_HUB_OFFLINE": "1",
        "ATLAS_QA_MODEL": "hash-64",
        "ATLAS_QA_CHROMA_URL": url,
        "ATLAS_QA_COURSE": course,
    }


def _ingest(corpus: Path, env: dict[str, str], **kw) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    cmd = [sys.executable, "-m", "atlas_qa.cli", "ingest", str(corpus), "--json"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for_lock(url: str, course: str, records: int = 0, timeout: float = 120) -> None:
    """Until the writer holds the lock and has written more than `records` page records."""
    client = make_client(Settings(chroma_url=url, course=course, model="hash-64", embedder=HASH))
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, "the writer never took the lock"
        try:  # never create the head: the writer does, with the index's facts
            ids = client.get_collection(f"atlas-qa-{course}-pages", embedding_function=None).get()["ids"]
            if locks.LOCK_ID in ids and len(ids) > records + 1:
                return
        except Exception:  # noqa: BLE001 (not created yet)
            pass
        time.sleep(0.1)


def _state(url: str, course: str) -> tuple[list[str], int]:
    atlas = Atlas(Settings(chroma_url=url, course=course, model="hash-64", embedder=HASH))
    return sorted(c.id for c in atlas.index.chunks), atlas.index.generation()


@pytest.mark.skipif(not POLISCI.is_dir(), reason="the polisci corpus (../shared) is not beside the checkout")
def test_a_paused_writer_is_taken_over_and_writes_nothing_after_it_wakes(chroma_server: str, tmp_path: Path):
    course = "lease-paused"
    env = _env(chroma_server, course)
    big = tmp_path / "big"
    shutil.copytree(POLISCI, big)
    small = tmp_path / "small"
    shutil.copytree(DATA / "polisci", small)
    writer = _ingest(big, env)
    _wait_for_lock(chroma_server, course, records=1)  # it holds the lock and is writing pages
    writer.send_signal(signal.SIGSTOP)  # paused mid-ingest, its lease no longer renewed
    try:
        other = _ingest(small, env)
        out, took_over = other.communicate(timeout=120)  # waits for the paused writer's lease to expire, takes over
        assert other.returncode == 0, took_over
        assert json.loads(out)["chunks"] > 0
        after_takeover = _state(chroma_server, course)
    finally:
        writer.send_signal(signal.SIGCONT)
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 2, (out, err)
    assert err.strip().count("\n") == 0 and "lost its write lock" in err and "Traceback" not in err, (err, took_over)
    assert _state(chroma_server, course) == after_takeover  # the woken writer wrote nothing more
    assert Atlas(Settings(chroma_url=chroma_server, course=course, model="hash-64", embedder=HASH)).index.check()["ok"]
    # The next ingest finishes the woken writer's job.
    again = _ingest(big, env)
    assert again.wait(timeout=300) == 0
    check = Atlas(Settings(chroma_url=chroma_server, course=course, model="hash-64", embedder=HASH)).index.check()
    assert check["ok"] and check["pages"] == len(list(POLISCI.glob("*.md"))) and check["orphans"] == 0


@pytest.mark.skipif(not POLISCI.is_dir(), reason="the polisci corpus (../shared) is not beside the checkout")
def test_a_chroma_restart_during_ingest_gives_one_line_and_the_next_ingest_finishes(tmp_path: Path):
    course = "lease-restart"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data, log = tmp_path / "chroma-data", tmp_path / "chroma.log"
    server = _start_chroma(data, port, log)
    corpus = tmp_path / "pages"
    shutil.copytree(POLISCI, corpus)
    env = _env(url, course)
    try:
        writer = _ingest(corpus, env)
        _wait_for_lock(url, course, records=5)  # it holds the lock and has written pages
        server.terminate()  # the server goes away mid-ingest ...
        server.wait(timeout=30)
        out, err = writer.communicate(timeout=120)
        server = _start_chroma(data, port, log)  # ... and comes back
        assert writer.returncode == 2, (out, err)
        assert err.count("\n") == 1 and err.startswith("atlas-qa: The Chroma server at") and "Traceback" not in err
        assert "run the same command again" in err
        check = Atlas(Settings(chroma_url=url, course=course, model="hash-64", embedder=HASH)).index.check()
        assert check["ok"]  # whatever was written is whole
        # The next ingest waits out the cut-off writer's lease (it could not release it) and finishes the job.
        again = _ingest(corpus, env)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
        check = Atlas(Settings(chroma_url=url, course=course, model="hash-64", embedder=HASH)).index.check()
        assert check["ok"] and check["orphans"] == 0 and check["pages"] == len(list(POLISCI.glob("*.md")))
    finally:
        server.terminate()
        server.wait(timeout=30)
