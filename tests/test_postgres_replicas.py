"""A department on several hosts: two `atlas-qa serve` replicas that share no directory (each its own working folder,
home and index folder), one `chroma run` and one PostgreSQL (a throwaway cluster). Sign in on one and go on on the
other, ask on one and rate on the other, throttling and logout across both, and PostgreSQL stopped for 20 s while
both serve eight clients (real processes, real model, real Chroma server, real PostgreSQL, real HTTP)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from atlas_qa import database
from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.users import MAX_FAILURES_PER_USER, UserStore

from .conftest import ROOT, SEED
from .live import call, start_replica

pytestmark = pytest.mark.e2e

QUESTIONS = [
    "How has digital technology changed public service delivery?",
    "What did Borins say about IT-enabled government?",
    "Why do governments consolidate functions across departments?",
]
OUTAGE_S = 20


def _replica(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`atlas-qa serve` in its own folder and home: nothing shared with the other replica but the servers."""
    own = {**env, "HOME": str(folder / "home"), "ATLAS_QA_INDEX_DIR": str(folder / "index")}
    return start_replica(own, folder / "server.log", folder)


@pytest.fixture
def department(tmp_path: Path, chroma_server: str, model_cache: Path, pg_cluster_own: Any) -> Iterator[dict[str, Any]]:
    url = pg_cluster_own.new_database()
    (tmp_path / "corpus").mkdir()
    shutil.copy(SEED, tmp_path / "corpus" / SEED.name)
    course = f"department-{os.getpid()}"
    common = dict(corpus=tmp_path / "corpus", course=course, chroma_url=chroma_server, database_url=url)
    Atlas(Settings(index_dir=tmp_path / "ingest", cache_dir=model_cache, **common)).ingest()
    store = UserStore(url, rounds=4)
    for name, role in (("ann", "student"), ("ben", "student"), ("ivy", "instructor")):
        store.add(name, role, [course], f"password-{name}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_QA_")}
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        ATLAS_QA_CORPUS=str(tmp_path / "corpus"),
        ATLAS_QA_COURSE=course,
        ATLAS_QA_CHROMA_URL=chroma_server,
        ATLAS_QA_DATABASE_URL=url,
    )
    procs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        (folder / "home").mkdir(parents=True)
        shutil.copytree(model_cache, folder / "index" / "models")  # its own copy of the exported model
        procs.append(_replica(folder, env))
    try:
        yield {"bases": [b for _, b in procs], "store": store, "url": url, "course": course, "pg": pg_cluster_own}
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(timeout=30)


def _sign_in(base: str, name: str, password: str) -> Any:
    form = urllib.parse.urlencode({"name": name, "password": password}).encode()
    return call(f"{base}/login", "POST", form, {"Content-Type": "application/x-www-form-urlencoded"})


def _cookie(reply: Any) -> dict[str, str]:
    return {"Cookie": reply.headers["set-cookie"].split(";", 1)[0]}


def _until(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.3)
    return result


def _records(url: str) -> set[str]:
    with database.connect(url) as db:
        return set(db.execute(sa.select(database.questions.c.id)).scalars())


def test_two_replicas_with_no_shared_disk_are_one_department(department):
    (a, b), store = department["bases"], department["store"]
    token = {"Authorization": f"Bearer {store.new_token('ann')}"}
    ivy = {"Authorization": f"Bearer {store.new_token('ivy')}"}

    # Signed in on A: the cookie works on B; the token works on both.
    signed = _sign_in(a, "ann", "password-ann")
    assert signed.status == 303, signed.body
    cookie = _cookie(signed)
    assert call(f"{b}/api/v1/me", headers=cookie).json()["name"] == "ann"
    assert call(f"{a}/api/v1/me", headers=token).json()["name"] == "ann"

    # Asked on A, rated on B; the Insight view and GET /api/v1/insights on either show both questions.
    asked = call(f"{a}/api/v1/ask", "POST", {"question": QUESTIONS[0]}, token).json()
    other = call(f"{b}/api/v1/ask", "POST", {"question": QUESTIONS[1]}, cookie).json()
    assert asked["answer_id"] and other["answer_id"]
    rate = {"question": QUESTIONS[0], "answer": asked, "helpful": False, "answer_id": asked["answer_id"]}
    assert call(f"{b}/api/v1/feedback", "POST", rate, cookie).status == 200
    for base in (a, b):
        seen = _until(lambda base=base: call(f"{base}/api/v1/insights", headers=ivy).json()["questions"] == 2)
        assert seen, f"{base} does not see both questions"
    rated = call(f"{a}/api/v1/feedback", headers=ivy).json()
    assert [(r["id"], r["helpful"]) for r in rated] == [(asked["answer_id"], False)]

    # Failed sign-ins spread over both replicas lock the account as on one.
    for i in range(MAX_FAILURES_PER_USER):
        assert _sign_in((a, b)[i % 2], "ben", "wrong password").status == 401
    assert _sign_in(a, "ben", "password-ben").status == 429
    assert _sign_in(b, "ben", "password-ben").status == 429

    # Logout on A ends the session on B.
    assert call(f"{a}/logout", "POST", b"", cookie).status == 303
    assert call(f"{b}/api/v1/me", headers=cookie).status == 401


def test_postgresql_stopped_for_20_s_while_two_replicas_serve_eight_clients(department):
    """0 failed asks while the database is down; sign-in answers 503 then, and works after; every asked question's
    log record is in the database afterwards (counted), written once it was back."""
    (a, b), store, url, pg = department["bases"], department["store"], department["url"], department["pg"]
    headers = {"Authorization": f"Bearer {store.new_token('ann')}"}
    ids: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        base = (a, b)[n % 2]
        i = n
        while not stop.is_set():
            reply = call(f"{base}/api/v1/ask", "POST", {"question": QUESTIONS[i % len(QUESTIONS)]}, headers)
            if reply.status == 200 and reply.json()["answer_id"]:
                ids.append(reply.json()["answer_id"])
            else:
                failures.append(f"{reply.status} {reply.body[:200]!r}")
            i += 1

    clients = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in clients:
        t.start()
    try:
        assert _until(lambda: len(ids) >= 8, 120), failures
        pg.stop()
        down_at, before = time.monotonic(), len(ids)
        try:
            refused = _sign_in(a, "ivy", "password-ivy")
            assert refused.status == 503 and b"try again" in refused.body
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))  # the outage itself: 20 s of asking
            asked_while_down = len(ids) - before
        finally:
            pg.start()
        assert _until(lambda: _sign_in(a, "ivy", "password-ivy").status == 303, 60)
        after = len(ids)
        assert _until(lambda: len(ids) > after + 8, 60)  # and the clients go on
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=180)
    assert failures == [] and asked_while_down > 0
    print(f"{len(ids)} asks, {asked_while_down} while PostgreSQL was down, 0 failed")
    assert _until(lambda: set(ids) <= _records(url), 90), f"{len(set(ids) - _records(url))} records missing"
