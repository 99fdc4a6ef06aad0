"""Roles and courses enforced on the server: every route and instructor event × every kind of caller, over real HTTP
against the running app: with the tests' hash embedder in the fast suite (`make check`), and with the real model and
real Chroma (embedded, then a `chroma run` server) in e2e."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from atlas_qa import database
from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.reviews.store import Review, ReviewStore
from atlas_qa.server import create_app
from atlas_qa.users import UserStore
from tests.embedder import HASH

from .conftest import DATA, SEED
from .live import OPENER, call, gradio_event, running

CALLERS = ("anonymous", "student_a", "student_b", "instructor_a", "admin")
SEED_QUESTION = "How has digital technology changed public service delivery?"
CANARY = "The zebrafish quartermaster protocol governs canary budgets."


@pytest.fixture(
    scope="module",
    params=[
        "hash",
        "hash-postgresql",
        pytest.param("embedded", marks=pytest.mark.e2e),
        pytest.param("server", marks=pytest.mark.e2e),
    ],
)
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Course A (the seed page) served by the app, course B (polisci and a canary page) beside it; four users (in the
    SQLite files, or with `hash-postgresql` in a PostgreSQL database)."""
    root = tmp_path_factory.mktemp("deploy")
    (root / "a").mkdir()
    shutil.copy(SEED, root / "a" / SEED.name)
    shutil.copytree(DATA / "polisci", root / "b")
    (root / "b" / "canary.txt").write_text(f"Canary page\n\n{CANARY}\n")
    url = request.getfixturevalue("chroma_server") if request.param == "server" else ""
    model = {"model": "hash-64", "embedder": HASH} if request.param.startswith("hash") else {}
    database_url = request.getfixturevalue("pg_cluster").new_database() if request.param == "hash-postgresql" else ""
    settings = Settings(
        index_dir=root / "index",
        corpus=root / "a",
        course="course-a",
        courses="course-a,course-b",
        chroma_url=url,
        cache_dir=request.getfixturevalue("model_cache"),
        database_url=database_url,
        **model,  # type: ignore[arg-type]
    )
    atlas = Atlas(settings)
    atlas.ingest()
    Atlas(settings.with_(course="course-b", corpus=root / "b"), atlas.embedder).ingest()
    store = UserStore.for_settings(settings)
    store.rounds = 4
    store.add("student_a", "student", ["course-a"], "password-a")
    store.add("student_b", "student", ["course-b"], "password-b")
    store.add("instructor_a", "instructor", ["course-a"], "password-i")
    store.add("admin", "admin", [], "password-x")
    reviews = ReviewStore(database.log_url(settings), atlas.sentence_vectors)
    for course in ("a", "b"):
        reviews.put(
            Review(f"review-{course}", f"course-{course}", "not_covered", ("q",), {}, "", {}, "instructor_a", 0)
        )
    tokens = {name: {"Authorization": f"Bearer {store.new_token(name)}"} for name in CALLERS[1:]}
    tokens["anonymous"] = {}
    app = create_app(settings, atlas)
    with running(app) as base:
        config = call(f"{base}/config", headers=tokens["admin"]).json()
        yield {"base": base, "headers": tokens, "config": config, "settings": settings, "store": store, "app": app}


def _status(d: dict[str, Any], method: str, path: str, caller: str, body: Any = None) -> int:
    return call(d["base"] + path, method, body, d["headers"][caller]).status


SPAN = {"page_id": SEED.name, "start": 0, "end": 40}
ANSWER = {"question": "q", "answer": "An answer. [1]", "refused": False, "citations": []}
ROUTES = [
    # (method, path, body, expected status per caller in CALLERS order)
    ("GET", "/login", None, (200, 200, 200, 200, 200)),
    ("GET", "/", None, (401, 200, 403, 200, 200)),
    ("GET", "/config", None, (401, 200, 403, 200, 200)),
    ("GET", "/gradio_api/info", None, (401, 200, 403, 200, 200)),
    ("GET", "/api/v1/docs", None, (401, 200, 200, 200, 200)),
    ("GET", "/api/v1/openapi.json", None, (401, 200, 200, 200, 200)),
    ("GET", "/api/v1/me", None, (401, 200, 200, 200, 200)),
    ("POST", "/api/v1/ask", {"question": SEED_QUESTION}, (401, 200, 403, 200, 200)),
    ("POST", "/api/v1/ask", {"question": CANARY, "course": "course-b"}, (401, 403, 200, 403, 200)),
    ("GET", "/api/v1/insights", None, (401, 403, 403, 200, 200)),
    ("GET", "/api/v1/insights?course=course-b", None, (401, 403, 403, 403, 200)),
    ("POST", "/api/v1/ask", {"question": "x", "course": "../course-b"}, (401, 403, 403, 403, 404)),
    ("POST", "/api/v1/feedback", {"question": "q", "answer": ANSWER, "helpful": True}, (401, 200, 403, 200, 200)),
    ("GET", "/api/v1/feedback", None, (401, 403, 403, 200, 200)),
    ("GET", "/api/v1/feedback?course=course-b", None, (401, 403, 403, 403, 200)),
    ("GET", f"/api/v1/attribution/{SEED.name}", None, (401, 403, 403, 200, 200)),
    ("POST", "/api/v1/reindex", None, (401, 403, 403, 200, 200)),
    ("GET", "/api/v1/reviews", None, (401, 403, 403, 200, 200)),
    ("GET", "/api/v1/reviews?course=course-b", None, (401, 403, 403, 403, 200)),
    ("POST", "/api/v1/reviews", {"question": "q", "not_covered": True}, (401, 403, 403, 201, 201)),
    (
        "POST",
        "/api/v1/reviews",
        {"question": "q", "course": "course-b", "not_covered": True},
        (401, 403, 403, 403, 201),
    ),
    ("POST", "/api/v1/reviews", {"question": "q", "sentences": [SPAN]}, (401, 403, 403, 201, 201)),
    ("GET", "/api/v1/reviews/review-a", None, (401, 403, 403, 200, 200)),
    ("PUT", "/api/v1/reviews/review-a", {"note": "Read the whole page."}, (401, 403, 403, 200, 200)),
    ("GET", "/api/v1/reviews/review-b", None, (401, 403, 403, 403, 200)),
    ("DELETE", "/api/v1/reviews/review-b", None, (401, 403, 403, 403, 204)),
    ("GET", "/api/v1/reviews/no-such-review", None, (401, 404, 404, 404, 404)),
]


@pytest.mark.parametrize("method,path,body,expected", ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_every_route_answers_each_caller_as_their_role_and_course_allow(deployment, method, path, body, expected):
    got = tuple(_status(deployment, method, path, caller, body) for caller in CALLERS)
    assert got == expected, dict(zip(CALLERS, got))


def _fn_index(config: dict[str, Any], elem_id: str, event: str) -> int:
    ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    for dep in config["dependencies"]:
        if any(ids.get(target) == elem_id and name == event for target, name in dep["targets"]):
            return int(dep["id"])
    raise AssertionError(f"no {event} event on #{elem_id}")


EVENTS = [  # every event that reads or changes instructor data (and makes its exports): (elem_id, event, inputs)
    ("aq-tab-feedback", "select", []),
    ("aq-fb-refresh", "click", []),
    ("aq-tab-corpus", "select", []),
    ("aq-reindex", "click", []),
    ("aq-page-pick", "change", [SEED.name]),
    ("aq-answer-pick", "change", [[], None]),
    ("aq-tab-insight", "select", [None, "", ""]),
    ("aq-insight-show", "click", ["course-a", "", ""]),
    ("aq-insight-course", "input", ["course-a", "2026-01-01", ""]),
]


@pytest.mark.parametrize("elem_id,event,inputs", EVENTS, ids=[f"{e}.{v}" for e, v, _ in EVENTS])
def test_every_instructor_event_checks_the_caller_on_the_server(deployment, elem_id, event, inputs):
    fn = _fn_index(deployment["config"], elem_id, event)
    outcome = {}
    for caller in CALLERS:
        status, message = gradio_event(deployment["base"], fn, inputs, deployment["headers"][caller])
        outcome[caller] = status if status != 200 else ("ok" if message.get("success") else "refused")
        if outcome[caller] == "refused":
            assert "instructors" in str(message.get("output", {}).get("error", "")), message
    assert outcome == {
        "anonymous": 401,
        "student_a": "refused",
        "student_b": 403,
        "instructor_a": "ok",
        "admin": "ok",
    }


def test_the_gradio_ask_api_serves_course_members_only(deployment):
    base, headers = deployment["base"], deployment["headers"]
    for caller, status in zip(CALLERS, (401, 200, 403, 200, 200)):
        body = {"data": [SEED_QUESTION, "", "", ""]}
        posted = call(f"{base}/gradio_api/call/ask", "POST", body, headers[caller])
        assert posted.status == status, caller
        if status == 200:  # waited for: an answer still being logged would change another test's counts
            stream = urllib.request.Request(
                f"{base}/gradio_api/call/ask/{posted.json()['event_id']}", headers=headers[caller]
            )
            with OPENER.open(stream, timeout=300) as response:
                assert any(b"event: complete" in line for line in response), caller


def test_a_student_never_reads_another_course_whatever_they_tamper_with(deployment):
    base, student_a, admin = deployment["base"], deployment["headers"]["student_a"], deployment["headers"]["admin"]
    attempts = [
        {"question": CANARY},
        {"question": CANARY, "course": "course-b"},
        {"question": CANARY, "course": "COURSE-B"},
        {"question": CANARY, "course": "course-a", "filters": {"course": "course-b"}},
        {"question": CANARY, "course": ["course-b"]},
        {"question": CANARY, "filters": {"$ne": "x"}},
        {"question": CANARY, "course": "course-b\x00"},
    ]
    for body in attempts:
        reply = call(f"{base}/api/v1/ask", "POST", body, student_a)
        assert reply.status in (200, 403, 404, 422), (body, reply.status)
        assert "zebrafish" not in reply.body.decode().replace(CANARY, ""), body
        assert reply.status != 200 or reply.json()["answer"], body  # never a silent empty answer
    # The canary is there for someone allowed to see it: the check above can fail.
    found = call(f"{base}/api/v1/ask", "POST", {"question": CANARY, "course": "course-b"}, admin).json()
    assert "zebrafish" in found["answer"]


def test_feedback_is_kept_per_course_and_shown_only_to_its_instructors(deployment):
    base, h = deployment["base"], deployment["headers"]
    body = {"question": "secret question of A", "answer": ANSWER, "helpful": False, "comment": "private note"}
    assert call(f"{base}/api/v1/feedback", "POST", body, h["student_a"]).status == 200
    listed = call(f"{base}/api/v1/feedback", headers=h["instructor_a"]).json()
    assert any(f["question"] == "secret question of A" and f["comment"] == "private note" for f in listed)
    for caller in ("student_a", "student_b"):
        reply = call(f"{base}/api/v1/feedback", headers=h[caller])
        assert reply.status == 403 and b"secret question" not in reply.body


def test_the_ui_page_config_carries_no_instructor_data(deployment):
    base, h = deployment["base"], deployment["headers"]
    call(f"{base}/api/v1/feedback", "POST", {"question": "leaky?", "answer": ANSWER, "helpful": True}, h["student_a"])
    config = call(f"{base}/config", headers=h["student_a"]).body.decode()
    assert "leaky?" not in config
    names = {d.get("api_name") for d in call(f"{base}/config", headers=h["student_a"]).json()["dependencies"]}
    info = call(f"{base}/gradio_api/info", headers=h["student_a"]).json()
    assert list(info["named_endpoints"]) == ["/ask"] and not info["unnamed_endpoints"], (info, names)


def test_the_api_page_lists_only_the_documented_ask_endpoint_with_its_real_types(deployment):
    info = call(f"{deployment['base']}/gradio_api/info", headers=deployment["headers"]["student_a"]).json()
    params = info["named_endpoints"]["/ask"]["parameters"]
    assert [(p["parameter_name"], p["python_type"]["type"]) for p in params] == [
        ("question", "str"),
        ("course", "str"),
        ("topic", "str"),
        ("chapter", "str"),
    ]


def test_insights_count_the_questions_asked_and_rated_through_the_api(deployment):
    """A student's questions (one the course does not cover) and rating show in the instructor's insights; bad dates
    are a clear 400; a student cannot rate someone else's answer."""
    base, h = deployment["base"], deployment["headers"]
    before = call(f"{base}/api/v1/insights?course=course-a", headers=h["instructor_a"]).json()
    asked = call(f"{base}/api/v1/ask", "POST", {"question": SEED_QUESTION}, h["student_a"]).json()
    off = call(f"{base}/api/v1/ask", "POST", {"question": "Which pizza toppings are best?"}, h["student_a"]).json()
    assert off["refused"] and asked["answer_id"] != off["answer_id"]
    rate = {
        "question": "Which pizza toppings are best?",
        "answer": off,
        "helpful": False,
        "answer_id": off["answer_id"],
    }
    assert call(f"{base}/api/v1/feedback", "POST", rate, h["admin"]).status == 404  # not the admin's answer
    assert call(f"{base}/api/v1/feedback", "POST", rate, h["student_a"]).json()["id"] == off["answer_id"]

    after = call(f"{base}/api/v1/insights?course=course-a", headers=h["instructor_a"]).json()
    assert after["questions"] == before["questions"] + 2 and after["refused"] == before["refused"] + 1
    assert after["students"] >= 1 and {"pages", "gaps", "per_day", "topics", "confusions", "cited"} <= set(after)
    counts = [p["questions"] for p in after["pages"]]
    assert counts == sorted(counts, reverse=True) and counts[0] >= 1
    assert after["pages"][0]["page_id"] == asked["citations"][0]["page_id"]
    assert any("Which pizza toppings are best?" in g["questions"] for g in after["gaps"])
    sizes = [len(g["questions"]) for g in after["gaps"]]
    assert sizes == sorted(sizes, reverse=True)
    rated = [
        f for f in call(f"{base}/api/v1/feedback", headers=h["instructor_a"]).json() if f["id"] == off["answer_id"]
    ]
    assert rated and rated[0]["helpful"] is False  # one record per answer: the rating is on it
    today = after["per_day"][-1]["date"]
    same = call(f"{base}/api/v1/insights?course=course-a&since={today}&until={today}", headers=h["admin"]).json()
    assert same["questions"] == after["per_day"][-1]["questions"]
    bad = call(f"{base}/api/v1/insights?since=31/12/2026", headers=h["instructor_a"])
    assert bad.status == 422 and "not a date" in bad.json()["error"]


def test_questions_asked_through_the_gradio_api_are_in_the_insights_too(deployment):
    """The programmatic `ask` endpoint logs its answers like the chat and the REST API (as the signed-in student)."""
    base, h = deployment["base"], deployment["headers"]
    before = call(f"{base}/api/v1/insights?course=course-a", headers=h["instructor_a"]).json()
    posted = call(f"{base}/gradio_api/call/ask", "POST", {"data": [SEED_QUESTION, "", "", ""]}, h["student_a"])
    assert posted.status == 200
    stream = urllib.request.Request(f"{base}/gradio_api/call/ask/{posted.json()['event_id']}", headers=h["student_a"])
    with OPENER.open(stream, timeout=300) as response:
        events = [raw.decode().strip() for raw in response]
    assert "event: complete" in events, events
    answer = json.loads(events[events.index("event: complete") + 1][5:])[0]
    assert not answer["refused"]
    after = call(f"{base}/api/v1/insights?course=course-a", headers=h["instructor_a"]).json()
    assert after["questions"] == before["questions"] + 1
    assert after["students"] >= 1
