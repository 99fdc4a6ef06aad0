"""The server's doors over real HTTP: sign-in, sessions, throttling, logout, proxy sign-on from allowed and other
addresses, Host names, CORS origins and the request-body cap (the hash embedder: this is about HTTP, not answers)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.server import create_app
from atlas_qa.users import MAX_FAILURES_PER_USER, UserStore
from tests.embedder import HASH

from .live import call, gradio_event, running

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> Atlas:
    root = tmp_path_factory.mktemp("web")
    corpus = Path(__file__).resolve().parent / "data" / "polisci"
    atlas = Atlas(Settings(index_dir=root / "index", corpus=corpus, model="hash-64", embedder=HASH, refuse_below=0.0))
    atlas.ingest()
    return atlas


@pytest.fixture
def app_with(atlas: Atlas, tmp_path: Path) -> Any:
    """app_with(**settings) -> a context manager serving the app with those settings and one student, "ana"."""

    @__import__("contextlib").contextmanager
    def serve(**changes: Any) -> Iterator[str]:
        settings = atlas.settings.with_(users_db=tmp_path / "users.sqlite3", **changes)
        store = UserStore(settings.users_db, rounds=4)
        if not store.get("ana"):
            store.add("ana", "student", [settings.course], "ana-password")
        with running(create_app(settings, atlas)) as base:
            yield base

    return serve


def _login(base: str, name: str, password: str) -> Any:
    return call(f"{base}/login", "POST", urlencode({"name": name, "password": password}).encode(), FORM)


def test_sign_in_session_and_logout(app_with):
    with app_with(session_hours=2) as base:
        assert call(f"{base}/", headers={"Accept": "text/html"}).status == 303  # a browser goes to the sign-in page
        assert call(f"{base}/login").status == 200 and b'<label for="password">' in call(f"{base}/login").body
        assert _login(base, "ana", "wrong-password").status == 401
        ok = _login(base, "ana", "ana-password")
        assert ok.status == 303 and ok.headers["Location"] == "/"
        cookie = ok.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=7200" in cookie
        session = {"Cookie": cookie.split(";")[0]}
        assert call(f"{base}/api/v1/me", headers=session).json() == {
            "name": "ana",
            "role": "student",
            "courses": ["default"],
        }
        assert call(f"{base}/", headers=session).status == 200
        assert call(f"{base}/logout", "POST", b"", session).status == 303
        assert call(f"{base}/api/v1/me", headers=session).status == 401  # the session ended on the server


def test_sign_in_is_throttled_per_user(app_with):
    with app_with() as base:
        for _ in range(MAX_FAILURES_PER_USER):
            assert _login(base, "ana", "guess-guess").status == 401
        refused = _login(base, "ana", "ana-password")
        assert refused.status == 429 and b"wait 15 minutes" in refused.body


def test_proxy_sign_on_is_believed_only_from_the_configured_proxies(app_with):
    sso = {"X-Forwarded-User": "prof", "X-Forwarded-Groups": "staff,atlas-qa:instructor,course:default"}
    settings = {"trusted_header": "X-Forwarded-User", "trusted_groups_header": "X-Forwarded-Groups"}
    with app_with(**settings, trusted_proxies="127.0.0.1/32") as base:  # the proxy is this machine: allowed
        me = call(f"{base}/api/v1/me", headers=sso)
        assert me.json() == {"name": "prof", "role": "instructor", "courses": ["default"]}
        assert call(f"{base}/api/v1/feedback", headers=sso).status == 200
        student = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "course:default"}
        assert call(f"{base}/api/v1/feedback", headers=student).status == 403
        assert call(f"{base}/api/v1/me", headers={"X-Forwarded-User": "x"}).json()["courses"] == []
    with app_with(**settings, trusted_proxies="10.0.0.5") as base:  # requests from 127.0.0.1: not the proxy
        assert call(f"{base}/api/v1/me", headers=sso).status == 401
        assert call(f"{base}/api/v1/feedback", headers=sso).status == 401


def test_only_configured_host_names_are_answered(app_with):
    with app_with() as base:
        assert call(f"{base}/login").status == 200
        refused = call(f"{base}/login", headers={"Host": "attacker.example"})  # DNS rebinding
        assert (refused.status, refused.json()["code"]) == (
            400,
            "bad_request",
        ) and "attacker.example" in refused.body.decode()
    with app_with(allowed_hosts="atlas.school.edu") as base:
        assert call(f"{base}/login", headers={"Host": "atlas.school.edu"}).status == 200
        assert call(f"{base}/login", headers={"Host": "localhost"}).status == 400


def test_cors_only_for_configured_origins(app_with):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    with app_with(cors_origins="https://lms.school.edu") as base:
        for origin in ("http://localhost:9999", "http://127.0.0.1:3000", "https://evil.example"):
            reply = call(f"{base}/api/v1/ask", "OPTIONS", None, {"Origin": origin, **preflight})
            assert "Access-Control-Allow-Origin" not in reply.headers, origin
            reply = call(f"{base}/login", headers={"Origin": origin})
            assert "Access-Control-Allow-Origin" not in reply.headers, origin
        allowed = call(f"{base}/api/v1/ask", "OPTIONS", None, {"Origin": "https://lms.school.edu", **preflight})
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://lms.school.edu"
        assert allowed.headers["Access-Control-Allow-Credentials"] == "true"


def _raw(base: str, head: str, body: bytes) -> bytes:
    """Send a request by hand (to send more than the server will read) and return what comes back."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head.encode() + b"\r\n\r\n")
        try:
            s.sendall(body)
        except OSError:
            pass  # the server answered and closed before reading it all
        return s.recv(65536)


def test_request_bodies_are_capped(app_with, tmp_path):
    with app_with(max_body_bytes=100_000) as base:
        big = b'{"question": "' + b"x" * 200_000 + b'"}'
        head = "POST /api/v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        assert _raw(base, head + f"Content-Length: {len(big)}", big).startswith(b"HTTP/1.1 413")  # said up front
        token = UserStore(tmp_path / "users.sqlite3").new_token("ana")
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)
        head += f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked"
        reply = _raw(base, head, chunked)  # no length given: counted as it arrives
        assert reply.startswith(b"HTTP/1.1 413") and b"larger than 100,000 bytes" in reply
        small = {"question": "What are de jure rules?"}
        assert call(f"{base}/api/v1/ask", "POST", small, {"Authorization": f"Bearer {token}"}).status == 200


def _sessions(base: str, users_db: Path) -> dict[str, dict[str, str]]:
    """Sign in the student "ana" and an instructor "prof" (added here): their session cookies as request headers."""
    UserStore(users_db, rounds=4).add("prof", "instructor", ["default"], "prof-password")
    return {
        n: {"Cookie": _login(base, n, f"{n}-password").headers["Set-Cookie"].split(";")[0]} for n in ("ana", "prof")
    }


def _events(base: str, session: dict[str, str], *elem_ids: str) -> list[int]:
    """The fn indexes of the page's events triggered by the components with these elem ids."""
    config = call(f"{base}/config", headers=session).json()
    ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    return [d["id"] for d in config["dependencies"] if any(ids.get(t) in elem_ids for t, _ in d["targets"])]


def test_a_students_session_gets_no_insight(app_with, tmp_path):
    """The Insight tab's events behind a student's sign-in cookie: refused on the server, whatever the page shows."""
    with app_with() as base:
        sessions = _sessions(base, tmp_path / "users.sqlite3")
        events = _events(base, sessions["ana"], "aq-tab-insight", "aq-insight-show")
        assert len(events) == 2
        for fn in events:
            status, message = gradio_event(base, fn, ["default", "", ""], sessions["ana"])
            assert status == 200 and not message["success"] and "instructors" in str(message["output"]["error"])
            status, message = gradio_event(base, fn, ["default", "", ""], sessions["prof"])
            assert status == 200 and message["success"], message


def _urls(value: Any) -> list[str]:
    """Every file URL in a Gradio event's output (nested updates and file data)."""
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return [value] if isinstance(value, str) and "/gradio_api/file=" in value else []


def test_exports_are_served_to_the_courses_instructors_only_and_nobody_uploads(app_with, tmp_path):
    """An instructor's export URL is refused to a student who holds it; Gradio's upload route takes nothing."""
    with app_with() as base:
        sessions = _sessions(base, tmp_path / "users.sqlite3")
        (show,) = _events(base, sessions["prof"], "aq-insight-show")
        status, message = gradio_event(base, show, ["default", "", ""], sessions["prof"])
        urls = _urls(message["output"]["data"])
        assert status == 200 and len(urls) == 12, message
        path = urls[0][urls[0].index("/gradio_api/file=") :]
        assert call(base + path, headers=sessions["prof"]).status == 200
        refused = call(base + path, headers=sessions["ana"])
        assert refused.status == 403 and b"instructors" in refused.body
        for who in ("ana", "prof"):
            form = b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nhello\r\n--x--\r\n'
            headers = {**sessions[who], "Content-Type": "multipart/form-data; boundary=x"}
            upload = call(f"{base}/gradio_api/upload", "POST", form, headers)
            assert upload.status == 403 and b"no uploads" in upload.body, (who, upload.body)


def test_the_downloads_folder_is_removed_when_the_server_stops(atlas, tmp_path):
    """The exports an instructor makes are written to the server's own temp folder, and it goes when the server
    stops (uvicorn's shutdown), not only at a clean interpreter exit."""
    settings = atlas.settings.with_(users_db=tmp_path / "users.sqlite3")
    UserStore(settings.users_db, rounds=4).add("ana", "student", [settings.course], "ana-password")
    app = create_app(settings, atlas)
    with running(app) as base:
        sessions = _sessions(base, settings.users_db)
        (show,) = _events(base, sessions["prof"], "aq-insight-show")
        status, message = gradio_event(base, show, ["default", "", ""], sessions["prof"])
        assert status == 200 and message["success"], message
        written = list(app.state.exports.iterdir())
        assert written and all(p.stat().st_size for p in written if p.is_file())
    assert not app.state.exports.exists()


def test_an_app_never_served_leaves_no_downloads_folder(tmp_path):
    """Built and never served (a dry run, a test): its folder goes when the process ends."""
    import subprocess
    import sys

    script = (
        "from atlas_qa.config import Settings; from atlas_qa.core import Atlas; from atlas_qa.server import create_app;"
        "from tests.embedder import HASH;"
        f"s = Settings(index_dir={str(tmp_path / 'idx')!r}, model='hash-64', embedder=HASH);"
        "print(create_app(s, Atlas(s)).state.exports)"
    )
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    folder = Path(run.stdout.strip().splitlines()[-1])
    assert folder.name.startswith("atlas-qa-export-") and not folder.exists()


def test_cookie_requests_that_change_state_come_from_the_apps_own_pages(app_with, tmp_path):
    """A page of another site can make a browser POST with the user's cookie (CSRF): every non-GET request not sent
    with a token is refused when its Origin is neither the app's nor a configured CORS origin; /login too."""
    with app_with(cors_origins="https://lms.school.edu") as base:
        prof = _sessions(base, tmp_path / "users.sqlite3")["prof"]
        token = {"Authorization": f"Bearer {UserStore(tmp_path / 'users.sqlite3').new_token('prof')}"}
        evil = {"Origin": "https://evil.example"}
        for origin in ("https://evil.example", "null", base.replace("127.0.0.1", "localhost")):
            refused = call(f"{base}/api/v1/reindex", "POST", b"", {**prof, "Origin": origin})
            assert refused.status == 403 and b"another site" in refused.body, origin
        cross = call(f"{base}/api/v1/reindex", "POST", b"", {**prof, "Sec-Fetch-Site": "cross-site"})
        assert cross.status == 403  # no Origin, but the browser says where the request came from
        for fn in _events(base, prof, "aq-insight-show"):
            assert gradio_event(base, fn, ["default", "", ""], {**prof, **evil})[0] == 403
        login = urlencode({"name": "ana", "password": "ana-password"}).encode()
        assert call(f"{base}/login", "POST", login, {**FORM, **evil}).status == 403
        assert call(f"{base}/logout", "POST", b"", {**prof, **evil}).status == 403
        assert call(f"{base}/api/v1/me", headers={**prof, "Origin": "https://evil.example"}).status == 200  # a GET
        for allowed in ({"Origin": base}, {"Origin": "https://lms.school.edu"}, {}, {"Sec-Fetch-Site": "same-origin"}):
            assert call(f"{base}/api/v1/reindex", "POST", b"", {**prof, **allowed}).status == 200, allowed
        assert call(f"{base}/api/v1/reindex", "POST", b"", {**token, **evil}).status == 200  # a token is no cookie
        assert call(f"{base}/login", "POST", login, {**FORM, "Origin": base}).status == 303


def _login_from(base: str, name: str, password: str, address: str) -> int:
    body = urlencode({"name": name, "password": password}).encode()
    return call(f"{base}/login", "POST", body, {**FORM, "X-Forwarded-For": address}).status


def test_sign_in_throttling_is_counted_atomically_per_account_and_address(app_with, tmp_path):
    """Concurrent guesses reach the password check no more often than the limits; the attacked account still signs
    in from another address, and users who signed in from the attacker's address before (one school NAT) still do."""
    from concurrent.futures import ThreadPoolExecutor

    from atlas_qa.cli import main
    from atlas_qa.users import MAX_FAILURES_PER_ADDRESS

    attacker, home = "10.6.6.6", "10.1.1.1"
    with app_with(trusted_proxies="127.0.0.1/32") as base:
        UserStore(tmp_path / "users.sqlite3", rounds=4).add("bob", "student", ["default"], "bob-password")
        assert _login_from(base, "bob", "bob-password", attacker) == 303  # bob signs in at school (the NAT)
        with ThreadPoolExecutor(40) as pool:
            got = list(pool.map(lambda _: _login_from(base, "ana", "guess-guess", attacker), range(40)))
        assert got.count(401) == MAX_FAILURES_PER_USER and got.count(429) == 40 - MAX_FAILURES_PER_USER, got
        assert _login_from(base, "ana", "ana-password", attacker) == 429
        assert _login_from(base, "ana", "ana-password", home) == 303  # the real ana, elsewhere
        with ThreadPoolExecutor(40) as pool:  # spraying many names from one address
            sprayed = list(pool.map(lambda i: _login_from(base, f"name{i}", "guess-guess", attacker), range(80)))
        assert sprayed.count(401) == MAX_FAILURES_PER_ADDRESS - MAX_FAILURES_PER_USER, sprayed
        assert _login_from(base, "bob", "bob-password", attacker) == 303  # a known user behind the same NAT
        assert main(["users", "unlock", "ana", "--address", attacker, "--index-dir", str(tmp_path)]) == 0
        assert _login_from(base, "ana", "ana-password", attacker) == 303  # an administrator lifted both locks
        assert main(["users", "unlock", "ghost", "--index-dir", str(tmp_path)]) == 2


def test_a_password_change_ends_the_old_sessions_and_tokens(app_with, tmp_path, monkeypatch):
    import io

    from atlas_qa.cli import main

    with app_with() as base:
        session = {"Cookie": _login(base, "ana", "ana-password").headers["Set-Cookie"].split(";")[0]}
        token = {"Authorization": f"Bearer {UserStore(tmp_path / 'users.sqlite3').new_token('ana')}"}
        assert call(f"{base}/api/v1/me", headers=session).status == 200
        assert call(f"{base}/api/v1/me", headers=token).status == 200
        monkeypatch.setattr("sys.stdin", io.StringIO("a-new-password\n"))
        assert main(["users", "add", "ana", "--role", "student", "--password-stdin", "--index-dir", str(tmp_path)]) == 0
        assert call(f"{base}/api/v1/me", headers=session).status == 401
        assert call(f"{base}/api/v1/me", headers=token).status == 401
        assert _login(base, "ana", "a-new-password").status == 303


def _immutable(path: Path, on: bool) -> bool:
    """`chattr +i` / `-i` on `path` (what a read-only log looks like even to root); False where it is not possible."""
    import shutil
    import subprocess

    chattr = shutil.which("chattr")
    return (
        bool(chattr) and subprocess.run([chattr, "+i" if on else "-i", str(path)], capture_output=True).returncode == 0
    )


def test_a_question_log_that_cannot_be_written_is_said_and_loses_nothing(app_with, tmp_path, monkeypatch):
    """The log made read-only (`chattr +i`) before the app opens it: asks and ratings are answered, the records kept
    in memory, the Insight numbers say why; once it can be written, every record is stored."""
    import gc

    from atlas_qa.insight import QuestionLog
    from atlas_qa.insight import log as question_log
    from atlas_qa.types import Answer
    from tests.embedder import HashEmbedder

    monkeypatch.setattr(question_log, "RETRY_SECONDS", 0.2)
    settings = Settings(index_dir=tmp_path / "i", log_db=tmp_path / "questions.sqlite3")
    earlier = QuestionLog(settings.with_(log_key="k"), HashEmbedder().embed_batch)
    earlier.add_rated("default", "old", Answer("q", "a", True, ()), "q", True)
    earlier.close()
    del earlier  # its connection closed: SQLite would let the app's connections share its open file
    gc.collect()
    if not _immutable(settings.log_db, True):
        pytest.skip("chattr +i is not possible here")
    try:
        store = UserStore(tmp_path / "users.sqlite3", rounds=4)
        with app_with(log_db=settings.log_db, log_key="k") as base:
            store.add("prof", "instructor", ["default"], "prof-password")
            student = {"Authorization": f"Bearer {store.new_token('ana')}"}
            prof = {"Authorization": f"Bearer {store.new_token('prof')}"}
            for q in ("What are de jure rules?", "What is politics?", "What is power?"):
                assert call(f"{base}/api/v1/ask", "POST", {"question": q}, student).status == 200
            rated = {
                "question": "q",
                "answer": {"question": "q", "answer": "A. [1]", "refused": False, "citations": []},
            }
            assert call(f"{base}/api/v1/feedback", "POST", {**rated, "helpful": True}, student).status == 200
            ins = call(f"{base}/api/v1/insights", headers=prof).json()
            assert "cannot be written" in ins["log_health"] and "4 records" in ins["log_health"], ins["log_health"]
            assert _immutable(settings.log_db, False)
            deadline = time.monotonic() + 30
            while (ins := call(f"{base}/api/v1/insights", headers=prof).json())["log_health"]:
                assert time.monotonic() < deadline, ins["log_health"]
                time.sleep(0.1)
            # Counted again once the log said it is well: a reply reads its numbers before the log's health, so the
            # reply that first says so may have counted while the kept records were still being written.
            ins = call(f"{base}/api/v1/insights", headers=prof).json()
            assert ins["questions"] == 5 and not ins["log_health"]  # the earlier one, three asks and a rating
    finally:
        _immutable(settings.log_db, False)


def test_config_root_ignores_forwarded_hosts_from_untrusted_peers(app_with, tmp_path):
    """Issue 25: `/config`'s `root` (where the page loads everything from) never takes X-Forwarded-Host from a
    client; from the configured proxy, only a host name the app answers to."""
    with app_with() as base:
        token = {"Authorization": f"Bearer {UserStore(tmp_path / 'users.sqlite3').new_token('ana')}"}
        forged = {**token, "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
        root = call(f"{base}/config", headers=forged).json()["root"]
        assert "evil.example" not in root and "://127.0.0.1:" in root, root
    with app_with(trusted_proxies="127.0.0.1/32", allowed_hosts="127.0.0.1,atlas.school.edu") as base:
        assert "evil.example" not in call(f"{base}/config", headers=forged).json()["root"]
        proxied = {**token, "X-Forwarded-Host": "atlas.school.edu", "X-Forwarded-Proto": "https"}
        assert call(f"{base}/config", headers=proxied).json()["root"] == "https://atlas.school.edu"
