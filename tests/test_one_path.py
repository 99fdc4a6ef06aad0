"""One path, one contract, over real HTTP with the tests' hash embedder: a question from each way in (REST, the
Gradio chat, the Gradio `ask` endpoint) is answered and logged once with the same fields; the same failure gives the
same status and body everywhere; the API refuses what its document does not allow, and bounds what it answers."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.insight import QuestionLog
from atlas_qa.server import create_app
from atlas_qa.users import UserStore
from tests.embedder import HASH

from .conftest import DATA
from .live import OPENER, call, gradio_event, running

QUESTION = "What are de jure rules?"


@contextmanager
def serving(root: Path, ingest: bool = True) -> Iterator[dict[str, Any]]:
    settings = Settings(
        index_dir=root / "index", corpus=DATA / "polisci", model="hash-64", embedder=HASH, users_db=root / "users.db"
    )
    atlas = Atlas(settings)
    if ingest:
        atlas.ingest()
    store = UserStore(settings.users_db, rounds=4)
    store.add("ana", "student", [settings.course], "ana-password")
    headers = {"Authorization": f"Bearer {store.new_token('ana')}"}
    app = create_app(settings, atlas)
    with running(app) as base:
        yield {"base": base, "headers": headers, "settings": settings, "app": app}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with serving(tmp_path_factory.mktemp("one-path")) as s:
        yield s


@pytest.fixture(scope="module")
def unindexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with serving(tmp_path_factory.mktemp("no-index"), ingest=False) as s:
        yield s


def gradio_ask(s: dict[str, Any], data: list[Any]) -> tuple[int, Any]:
    """A call of the Gradio `ask` endpoint: (status of the call, its item) or (status, the refusal's body)."""
    posted = call(f"{s['base']}/gradio_api/call/ask", "POST", {"data": data}, s["headers"])
    if posted.status != 200:
        return posted.status, posted.json()
    with OPENER.open(_get(f"{s['base']}/gradio_api/call/ask/{posted.json()['event_id']}", s["headers"])) as stream:
        lines = [raw.decode().strip() for raw in stream]
    return 200, json.loads(lines[lines.index("event: complete") + 1][5:])[0]


def _get(url: str, headers: dict[str, str]) -> Any:
    import urllib.request

    return urllib.request.Request(url, headers=headers)


def fn_index(s: dict[str, Any], elem_id: str, event: str) -> int:
    config = call(f"{s['base']}/config", headers=s["headers"]).json()
    ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    return next(
        int(d["id"])
        for d in config["dependencies"]
        if any(ids.get(t) == elem_id and e == event for t, e in d["targets"])
    )


def log_rows(settings: Settings, expected: int) -> list[dict[str, Any]]:
    """The question log's rows (with their vectors), once `expected` of them are written (the writes are queued)."""
    deadline = time.monotonic() + 30
    while True:
        log = QuestionLog(settings)
        log.ready(settings.course)
        with sqlite3.connect(log.path) as db:
            db.row_factory = sqlite3.Row
            rows = [dict(r) for r in db.execute("SELECT * FROM questions q JOIN answers a ON a.id = q.id ORDER BY t")]
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_each_way_in_asks_and_logs_once_with_the_same_fields(served):
    rest = call(f"{served['base']}/api/v1/ask", "POST", {"question": QUESTION}, served["headers"])
    assert rest.status == 200 and rest.json()["answer_id"]
    status, item = gradio_ask(served, [QUESTION, "", "", ""])
    assert status == 200 and item["answer"] == rest.json()["answer"] and set(item) == set(rest.json())
    chat = fn_index(served, "aq-send", "click")
    status, message = gradio_event(served["base"], chat, [QUESTION, None, "", "", ""], served["headers"])
    assert status == 200 and message["success"], message
    rows = log_rows(served["settings"], 3)
    assert len(rows) == 3  # once each: no way in logs twice, none skips the log
    same = ("course", "student", "question", "searched", "refused", "follow_up", "pages", "passages", "works", "vector")
    assert [{k: r[k] for k in same} for r in rows[1:]] == [{k: rows[0][k] for k in same}] * 2
    assert {rest.json()["answer_id"], item["answer_id"]} < {r["id"] for r in rows}
    assert all(json.loads(r["answer"])["answer"] == rest.json()["answer"] for r in rows)


def test_a_bad_question_gets_the_same_status_and_body_on_every_route(served):
    for question, sentence in (("   ", "Please type a question."), (12345, "The question must be text, not a number.")):
        rest = call(f"{served['base']}/api/v1/ask", "POST", {"question": question}, served["headers"])
        gradio = gradio_ask(served, [question, "", "", ""])
        body = {"error": sentence, "code": "invalid_question", "status": 422}
        assert (rest.status, rest.json()) == (422, body) and gradio == (422, body)


def test_a_course_without_an_index_is_a_503_with_the_same_body_on_every_route(unindexed):
    rest = call(f"{unindexed['base']}/api/v1/ask", "POST", {"question": QUESTION}, unindexed["headers"])
    status, item = gradio_ask(unindexed, [QUESTION, "", "", ""])
    assert rest.status == 503 and rest.json()["code"] == "index_not_found" and status == 200
    assert {k: item[k] for k in ("error", "code", "status")} == rest.json()


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        ({"question": "q", "answer": {"answer": "a"}, "helpful": "yes"}, "helpful: Input should be a valid boolean."),
        ({"question": "q", "answer": {"answer": "a"}, "helpful": 1}, "helpful: Input should be a valid boolean."),
        ({"question": "q", "answer": {"answer": "a"}}, "The field 'helpful' is required."),
        ({"question": "q", "answer": {"answer": "a"}, "helpful": True, "stars": 5}, "The field 'stars' is not one"),
    ],
)
def test_bodies_are_strict_and_refused_with_one_sentence(served, body, sentence):
    reply = call(f"{served['base']}/api/v1/feedback", "POST", body, served["headers"])
    assert (
        reply.status == 422 and reply.json()["error"].startswith(sentence) and reply.json()["code"] == "invalid_input"
    )


def test_every_refusal_of_the_server_has_the_one_shape(served):
    base = served["base"]
    replies = {
        401: call(f"{base}/api/v1/me"),
        404: call(f"{base}/api/v1/nowhere", headers=served["headers"]),
        405: call(f"{base}/api/v1/me", "TRACE", headers=served["headers"]),
        422: call(
            f"{base}/api/v1/ask", "POST", b"{not json", {**served["headers"], "Content-Type": "application/json"}
        ),
    }
    for status, reply in replies.items():
        body = reply.json()
        assert reply.status == status and set(body) == {"error", "code", "status"} and body["status"] == status, body
        assert body["error"].endswith(".") and body["error"].count(". ") == 0, body
    assert replies[405].headers["Allow"] == "GET"


def test_a_wrong_arity_call_through_queue_join_is_refused_and_fails_no_good_call(served):
    """Issue 25, item 13: `{"data": ["ok?"]}` joined to the `ask` function failed the good calls batched with it."""
    ask = served["app"].state.blocks.ask_fn_index
    bodies = [([QUESTION, "", "", ""], True)] * 12 + [(["ok?"], False), ([QUESTION, "", "", "", ""], False)] * 3
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda b: gradio_event(served["base"], ask, b[0], served["headers"]), bodies))
    for (data, good), (status, message) in zip(bodies, results):
        if good:
            assert status == 200 and message["success"] and "answer" in message["output"]["data"][0], message
        else:
            assert status == 422, (data, status)
    refused = call(
        f"{served['base']}/gradio_api/queue/join",
        "POST",
        {"data": ["ok?"], "fn_index": ask, "session_hash": "s"},
        served["headers"],
    )
    assert refused.json()["code"] == "invalid_input" and refused.json()["error"].startswith("The body's data must be")


def test_the_direct_run_route_of_the_batched_endpoint_says_which_route_to_use(served):
    reply = call(f"{served['base']}/gradio_api/run/ask", "POST", {"data": [QUESTION, "", "", ""]}, served["headers"])
    assert reply.status == 404 and "/gradio_api/call/ask" in reply.json()["error"]


def test_insights_over_any_range_are_bounded_and_never_a_500(tmp_path):
    """Issue 25, item 17: since=0001-01-01T00:00:00+01:00 was a 500; 0001-01-01..9999-12-31 answered 131 MB."""
    with serving(tmp_path) as s:
        store = UserStore(s["settings"].users_db, rounds=4)
        store.add("prof", "instructor", [s["settings"].course], "prof-password")
        prof = {"Authorization": f"Bearer {store.new_token('prof')}"}
        base = f"{s['base']}/api/v1/insights"
        early = call(f"{base}?since=0001-01-01T00:00:00%2B01:00", headers=prof)
        assert early.status in (200, 422), early.body[:200]
        wide = call(f"{base}?since=0001-01-01&until=9999-12-31", headers=prof)
        assert wide.status == 200 and len(wide.body) < 1_000_000 and len(wide.json()["per_day"]) <= 3660
        bad = call(f"{base}?since=31/12/2026", headers=prof)
        assert bad.status == 422 and bad.json()["error"] == "The since '31/12/2026' is not a date like 2026-01-31."


def test_the_docs_page_needs_no_network(served):
    page = call(f"{served['base']}/api/v1/docs", headers=served["headers"])
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.body.decode())
    assert page.status == 200 and assets and all(a.startswith("/api/v1/docs/assets/") for a in assets)
    assert "http://" not in page.body.decode() and "https://" not in page.body.decode()
    for asset in assets:
        assert call(served["base"] + asset, headers=served["headers"]).status == 200, asset


def test_the_openapi_document_states_the_contract(served):
    doc = call(f"{served['base']}/api/v1/openapi.json", headers=served["headers"]).json()
    assert set(doc["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyCookie"}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            assert {"401", "413", "422", "500"} <= set(op["responses"]), (method, path)
            assert op["security"] == [{"HTTPBearer": []}, {"APIKeyCookie": []}], (method, path)
            for status, response in op["responses"].items():
                if not status.startswith("2"):  # 200, 201 (a review made), 204 (deleted)
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorReply"
                    }
    question = doc["components"]["schemas"]["AskBody"]["properties"]["question"]
    assert question["maxLength"] == 1000 and doc["components"]["schemas"]["Me"]["properties"]["role"]["enum"]


def test_the_edges_read_the_index_only_through_atlas():
    """`Atlas.pages`, `document`, `last_ingest` and `facets` are what the edges read; none reaches `atlas.index`."""
    src = Path(__file__).resolve().parents[1] / "src" / "atlas_qa"
    edges = [
        *sorted((src / "ui").glob("*.py")),
        src / "api.py",
        src / "server.py",
        src / "asking.py",
        src / "gradio_guard.py",
    ]
    reaching = [
        f"{p.name}:{i}" for p in edges for i, line in enumerate(p.read_text().splitlines(), 1) if ".index." in line
    ]
    assert reaching == []
