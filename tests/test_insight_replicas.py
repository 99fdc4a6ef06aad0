"""Two app processes against one `chroma run` server share the question log: each sees the other's questions and
ratings (real processes, real model, real Chroma server, real HTTP)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.users import UserStore

from .conftest import ROOT, SEED
from .live import call, start_replica

pytestmark = pytest.mark.e2e

QUESTION = "How has digital technology changed public service delivery?"
MISSING = "How do I appeal a parking fine on campus?"


@pytest.fixture
def replicas(tmp_path: Path, chroma_server: str, model_cache: Path) -> Iterator[dict[str, Any]]:
    (tmp_path / "corpus").mkdir()
    shutil.copy(SEED, tmp_path / "corpus" / SEED.name)
    course = f"replicas-{os.getpid()}"
    settings = Settings(
        index_dir=tmp_path / "shared",
        corpus=tmp_path / "corpus",
        course=course,
        chroma_url=chroma_server,
        cache_dir=model_cache,
    )
    Atlas(settings).ingest()
    store = UserStore(settings.users_db, rounds=4)
    for name, role in (("ann", "student"), ("ben", "student"), ("ivy", "instructor")):
        store.add(name, role, [course], f"password-{name}")
    headers = {n: {"Authorization": f"Bearer {store.new_token(n)}"} for n in ("ann", "ben", "ivy")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_QA_")}
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        ATLAS_QA_INDEX_DIR=str(settings.index_dir),  # the users db and the pseudonym key: shared, as in deploy.md
        ATLAS_QA_CORPUS=str(settings.corpus),
        ATLAS_QA_COURSE=course,
        ATLAS_QA_CHROMA_URL=chroma_server,
        ATLAS_QA_CACHE_DIR=str(model_cache),
    )
    procs = [start_replica(env, tmp_path / f"replica-{i}.log", ROOT) for i in (1, 2)]
    try:
        yield {"bases": [b for _, b in procs], "headers": headers, "course": course}
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(timeout=30)


def _until(check: Any, timeout: float = 20.0) -> Any:
    """`check()` once it is truthy (a replica writes its log in the background, within milliseconds)."""
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


def test_two_replicas_see_each_others_questions_and_ratings(replicas):
    (one, two), h, course = replicas["bases"], replicas["headers"], replicas["course"]
    asked = call(f"{one}/api/v1/ask", "POST", {"question": QUESTION}, h["ann"]).json()
    missing = call(f"{two}/api/v1/ask", "POST", {"question": MISSING}, h["ben"]).json()
    assert not asked["refused"] and missing["refused"]

    def insights(base: str) -> dict[str, Any]:
        return call(f"{base}/api/v1/insights?course={course}", headers=h["ivy"]).json()

    for base in (one, two):
        seen = _until(lambda base=base: (i := insights(base))["questions"] == 2 and i)
        assert seen and (seen["refused"], seen["students"]) == (1, 2)

    rate = {"question": QUESTION, "answer": asked, "helpful": False, "answer_id": asked["answer_id"], "course": course}
    assert call(f"{two}/api/v1/feedback", "POST", rate, h["ann"]).status == 200  # rated where it was not asked
    rated = _until(lambda: call(f"{one}/api/v1/feedback?course={course}", headers=h["ivy"]).json())
    assert [(f["id"], f["helpful"], f["question"]) for f in rated] == [(asked["answer_id"], False, QUESTION)]
    gaps = insights(one)["gaps"]  # a thumbs-down answer joins the refused question among the gaps
    assert sorted(q for g in gaps for q in g["questions"]) == sorted([QUESTION, MISSING])
