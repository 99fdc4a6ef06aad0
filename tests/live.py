"""A running app for HTTP tests: uvicorn in a thread on a free loopback port, and a small HTTP client."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def free_port() -> int:
    """A loopback port free now, for a server in another process (it may be taken before that server binds it;
    a server in this process binds its socket itself: `running`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve the ASGI `app` with uvicorn (as `serve` does) until the block ends; yields its base URL. The socket is
    bound here and handed to uvicorn: no other process (parallel test workers) can take the port in between."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    """One HTTP request; `body` a dict/list (sent as JSON), bytes or None. Redirects are not followed."""
    headers = dict(headers or {})
    data = None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, bytes):
        data = body
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with OPENER.open(request, timeout=120) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read())


def gradio_event(base: str, fn_index: int, data: list[Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Run a Gradio event the way the page does (queue/join, then the event stream); returns (HTTP status of the
    join, the final message: {"success": bool, "output": ...}) — or (status, {}) when the join was refused."""
    session = uuid.uuid4().hex
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    joined = call(f"{base}/gradio_api/queue/join", "POST", body, headers)
    if joined.status != 200:
        return joined.status, {}
    stream = urllib.request.Request(f"{base}/gradio_api/queue/data?session_hash={session}", headers=headers)
    with OPENER.open(stream, timeout=120) as response:
        for raw in response:
            line = raw.decode().strip()
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return 200, message
    raise AssertionError("the event stream ended without a result")


def start_replica(env: dict[str, str], log: Any, cwd: Any) -> tuple[Any, str]:
    """`atlas-qa serve --no-ingest` in a process of its own (`env`, working folder `cwd`, output to the file `log`),
    up and answering its sign-in page; returns the process and its base URL."""
    import subprocess
    import sys

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "atlas_qa.cli", "serve", "--no-ingest", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the replica stopped: {log.read_text(errors='replace')[-2000:]}")
        try:
            if call(f"{base}/login").status == 200:
                return proc, base
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the replica did not start")
