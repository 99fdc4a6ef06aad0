"""The app's `ask` API over real HTTP, the app served with the real model and real Chroma: each request is answered
or refused on its own, API calls leave no session state behind, a Chroma outage is a 503 with a sentence, and no
answer reveals the server's paths."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas

from ..conftest import BORINS_QUESTION, DATA, SEED, start_chroma
from ..live import running
from .conftest import ask_result, post_ask, serving

pytestmark = pytest.mark.e2e

GOOD = [
    BORINS_QUESTION,
    "What are de jure and de facto rules?",
    "How has digital technology changed public service delivery?",
    "What did Pal say about rule-bound bureaucracies?",
]
# Bodies that made `ask_batch` raise for every request batched with them.
POISON: list[list[Any]] = [
    [12345, "", "", ""],
    ["x \ud800", "", "", ""],
    [["a list", "of questions"], "", "", ""],
    [None, "", "", ""],
    [{"$ne": ""}, "", "", ""],
    ["What are rules?", 5, None, ["x"]],
    ["What are rules?", "", "\udfff", ""],
    ["", "", "", ""],
]
WRONG_SHAPE: list[Any] = [["What are rules?"], ["What are rules?", "", "", "", ""], [], "What are rules?"]


def ask(base: str, data: list[Any]) -> dict[str, Any]:
    status, event_id = post_ask(base, data)
    assert status == 200, event_id
    event, out = ask_result(base, event_id)
    assert event == "complete", out
    return dict(out[0])


def join(base: str, fn_index: int, data: list[Any]) -> tuple[int, str]:
    """Queue a call the way Gradio's browser client does (`/queue/join`): (status, its session)."""
    session = uuid.uuid4().hex
    body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": session}).encode()
    req = urllib.request.Request(
        f"{base}/gradio_api/queue/join", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        urllib.request.urlopen(req, timeout=120).read()
    except urllib.error.HTTPError as exc:
        return exc.code, session
    return 200, session


def joined(base: str, session: str) -> dict[str, Any]:
    """The output of the call queued for `session`."""
    with urllib.request.urlopen(f"{base}/gradio_api/queue/data?session_hash={session}", timeout=300) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("data:") and (msg := json.loads(line[5:]))["msg"] == "process_completed":
                assert msg["success"], msg
                return dict(msg["output"]["data"][0])
    raise AssertionError("the event stream ended without a result")


def spread(good: list[list[Any]], bad: list[list[Any]]) -> list[tuple[list[Any], bool]]:
    bodies = [(b, True) for b in good] + [(b, False) for b in bad]
    return [bodies[i] for i in sorted(range(len(bodies)), key=lambda i: (i * 7) % len(bodies))]


@pytest.fixture(scope="module")
def served_app(real_atlas: Atlas) -> Any:
    """(URL, Blocks) of the app over the real index, served as `serve` serves it (uvicorn, with its middleware)."""
    from atlas_qa.server import create_app

    server = create_app(real_atlas.settings, real_atlas)
    with running(server) as url:
        yield url.rstrip("/"), server.state.blocks


@pytest.fixture
def served(served_app: tuple[str, Any]) -> str:
    return str(served_app[0])


def test_poisoned_calls_are_refused_with_a_422_and_the_good_ones_mixed_in_all_answered(served: str) -> None:
    bodies = spread([[q, "", "", ""] for q in GOOD] * 4, (POISON + WRONG_SHAPE) * 2)
    with ThreadPoolExecutor(max_workers=16) as pool:
        posted = list(pool.map(lambda b: post_ask(served, b[0]), bodies))
        outs = list(pool.map(lambda p: ask_result(served, p[1]) if p[0] == 200 else None, posted))
    good_failures = []
    for (data, good), (status, said), out in zip(bodies, posted, outs):
        if good:
            if status != 200 or out is None or out[0] != "complete" or "answer" not in out[1][0]:
                good_failures.append((data, status, said, out))
        else:
            assert status == 422, (data, status, said, out)
            assert said.endswith(".") and said.count(". ") == 0, said  # one sentence
    assert good_failures == []


def test_poison_joined_to_the_queue_is_refused_and_fails_no_good_call(served_app: tuple[str, Any]) -> None:
    """The browser client's route (`/queue/join` with the endpoint's `fn_index`) is checked too (issue 25, item 13:
    a wrong-arity call joined there failed 24-28 of 36 good ones): each bad call gets 422, and 0 good ones fail."""
    served, app = served_app
    fn_index = app.ask_fn_index
    bodies = spread([[q, "", "", ""] for q in GOOD] * 6, (POISON + WRONG_SHAPE) * 3)
    with ThreadPoolExecutor(max_workers=16) as pool:
        joins = list(pool.map(lambda b: join(served, fn_index, b[0]), bodies))
        outs = list(pool.map(lambda j: joined(served, j[1]) if j[0] == 200 else None, joins))
    good_failures = []
    for (data, good), (status, _), item in zip(bodies, joins, outs):
        if good and (status != 200 or item is None or "answer" not in item or item.get("error")):
            good_failures.append((data, status, item))
        if not good:
            assert status == 422 and item is None, (data, status, item)
    assert good_failures == []


def test_each_bad_field_gets_its_own_sentence(served: str) -> None:
    assert post_ask(served, [12345, "", "", ""]) == (422, "The question must be text, not a number.")
    assert post_ask(served, [["a", "b"], "", "", ""]) == (422, "The question must be text, not a list.")
    assert post_ask(served, ["x \ud800", "", "", ""])[1].endswith("is not valid Unicode text (a lone surrogate).")
    assert post_ask(served, ["What are rules?", 5, "", ""]) == (422, "The filter 'course' must be text, not a number.")
    assert post_ask(served, ["What are rules?"])[1].startswith("The body's data must be a list of 4 texts")


def test_api_calls_leave_no_session_state_but_a_browser_conversation_stays(served_app: tuple[str, Any]) -> None:
    """Gradio kept a ~100 KB session for each API call (up to 10,000 of them): the soak's memory growth."""
    import gradio as gr

    served, app = served_app
    holder = app.state_holder
    browser = holder["a-browser-session"]
    turns = next(k for k, b in browser.blocks_config.blocks.items() if isinstance(b, gr.State))
    browser[turns] = ["a conversation"]
    before = len(holder.session_data)
    for q in GOOD * 3:
        assert "answer" in ask(served, [q, "", "", ""])
    assert len(holder.session_data) <= before
    assert holder.session_data["a-browser-session"][turns] == ["a conversation"]


def test_sources_in_api_and_cli_answers_are_relative_to_the_corpus(served: str, real_atlas: Atlas) -> None:
    corpus = str(Path(real_atlas.settings.corpus).resolve())
    out = ask(served, [BORINS_QUESTION, "", "", ""])
    assert out["citations"][0]["source"] == "atlas107/digital-technology-and-service-delivery.txt"
    assert corpus not in json.dumps(out)
    assert all(not c["source"].startswith("/") for c in out["citations"])


def test_a_chroma_outage_is_a_503_with_a_sentence(tmp_path: Path, model_cache: Path) -> None:
    proc, url = start_chroma(tmp_path / "chroma", tmp_path / "chroma.log")
    try:
        root = tmp_path / "corpus"
        (root / "atlas107").mkdir(parents=True)
        shutil.copy(SEED, root / "atlas107" / SEED.name)
        shutil.copytree(DATA / "polisci", root / "polisci")
        settings = Settings(index_dir=tmp_path / "index", corpus=root, chroma_url=url, cache_dir=model_cache)
        atlas = Atlas(settings)
        atlas.ingest()
        with serving(atlas, settings) as app_url:
            base = app_url.rstrip("/")
            assert "answer" in ask(base, [BORINS_QUESTION, "", "", ""])
            proc.kill()
            proc.wait(timeout=30)
            # the snapshot read before the outage answers until the index is next looked at (at most a second)
            deadline = time.monotonic() + 30
            while "answer" in (out := ask(base, [GOOD[0], "", "", ""])) and time.monotonic() < deadline:
                time.sleep(0.2)
            for q in GOOD[:2]:
                out = ask(base, [q, "", "", ""])
                assert out["status"] == 503, out
                assert out["error"].startswith(f"The Chroma server at {url} does not answer"), out
                assert out["error"].endswith("ask the administrator to restart it."), out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
