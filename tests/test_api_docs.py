"""docs/api.md's examples run as written (curl and gradio_client) against a running app with accounts: with the
tests' hash embedder in the fast suite (they run, and answer in the documented shapes), and with the real model in
e2e (they answer what the page says)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.server import create_app
from atlas_qa.users import UserStore
from tests.embedder import HASH

from .conftest import ROOT
from .live import running

DOC = ROOT / "docs" / "api.md"


def values(text: str) -> list[object]:
    """The JSON values curl printed one after another."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(text.strip()):
        value, i = decoder.raw_decode(text, i)
        out.append(value)
        while i < len(text) and text[i].isspace():
            i += 1
    return out


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module", params=["hash", pytest.param("real", marks=pytest.mark.e2e)])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model_cache: Path
) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("api-docs")
    shutil.copytree(ROOT / "corpus", root / "corpus")
    model = {"model": "hash-64", "embedder": HASH} if request.param == "hash" else {}
    settings = Settings(index_dir=root / "index", corpus=root / "corpus", cache_dir=model_cache, **model)  # type: ignore[arg-type]
    atlas = Atlas(settings)
    atlas.ingest()
    store = UserStore(settings.users_db, rounds=4)
    store.add("prof", "instructor", [settings.course], "prof-password")
    with running(create_app(settings, atlas)) as base:
        env = {**os.environ, "ATLAS_QA_URL": base, "TOKEN": store.new_token("prof"), "NO_PROXY": "*"}
        yield {**env, "MODEL": request.param}


def test_the_curl_examples_work_as_written(served):
    shell = blocks("sh")
    assert len(shell) == 5
    outputs = []
    for script in shell:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=served, capture_output=True, text=True)
        assert done.returncode == 0, (script, done.stderr)
        outputs.append(done.stdout)
    (first,), (follow_up,), (rated, listed, insights), (parse, report), (review, asked, reviews) = (
        values(o) for o in outputs
    )
    assert asked["reviewed"]["id"] == review["id"] == reviews[0]["id"] and review["by"] == "prof"
    assert asked["answer"] == review["answer"]["answer"] and asked["usual"]["answer"] != asked["answer"]
    assert review["note"] and not review["stale"] and reviews[0]["uses"] == 1
    assert {"answer", "citations", "answer_id"} <= set(first) and {"answer", "searched"} <= set(follow_up)
    assert rated["id"] and insights["questions"] == 3 and report["unchanged"] == 1 and report["added"] == 0
    if served["MODEL"] == "hash":
        return  # what the answers say: with the real model
    assert "According to Borins" in first["answer"] and first["citations"][0]["speaker"] == "Pal"
    assert "rule-bound bureaucracies" in follow_up["answer"] and not follow_up["refused"]
    assert rated["id"] and listed[0]["question"] == "How has digital technology changed public service delivery?"
    assert insights["questions"] == 3 and insights["pages"][0]["questions"] >= 1  # two asked, one rated unasked
    assert "Pal" in {q["speaker"] for q in parse["quotations"]}
    assert report["unchanged"] == 1 and report["added"] == 0


def test_the_gradio_client_example_works_as_written(served):
    (script,) = blocks("python")
    done = subprocess.run([sys.executable, "-c", script], env=served, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "[1] " in done.stdout
    if served["MODEL"] == "real":
        assert "[1] Digital technology and service delivery" in done.stdout
