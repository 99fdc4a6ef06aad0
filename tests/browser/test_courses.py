"""Course isolation over the app's HTTP API: a canary indexed only in course A never reaches course B's app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from tests.embedder import HASH

from .conftest import ask_result, post_ask, serving

CANARY = "The zebrafish quartermaster protocol governs canary budgets."

pytestmark = pytest.mark.e2e


def test_canary_in_course_a_never_reaches_course_b(tmp_path: Path):
    store = tmp_path / "store"
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    (a_dir / "canary.txt").write_text(f"Canary page\n\n{CANARY}\n")
    (b_dir / "rules.md").write_text("---\ntitle: Rules\ncourse: B\n---\n# Rules\n\nBudgets are governed by rules.\n")
    base = Settings(index_dir=store, model="hash-64", embedder=HASH, refuse_below=0.0)
    Atlas(base.with_(course="course-a")).ingest([a_dir])
    b_settings = base.with_(course="course-b", corpus=b_dir)
    b = Atlas(b_settings)
    b.ingest([b_dir])
    with serving(b, b_settings) as url:
        attempts = [
            ["zebrafish quartermaster protocol canary budgets", "", "", ""],
            ["zebrafish quartermaster protocol", "course-a", "", ""],
            ["zebrafish quartermaster protocol", "B", "", ""],
            ["zebrafish", "' OR 1=1 --", "", ""],
            ["zebrafish", "", {"$ne": "x"}, ""],
            ["zebrafish", "../course-a", "", ""],
        ]
        answered = ask_http(url.rstrip("/"), ["How are budgets governed?", "", "", ""])
        assert answered["event"] == "complete" and "rules" in answered["data"][0]["answer"].lower()
        for data in attempts:
            out = ask_http(url.rstrip("/"), data)
            text = json.dumps(out)
            assert "zebrafish" not in text.replace(data[0], "") and "canary.txt" not in text, (data, out)
        # The same question in course A's own index does find the canary: the check above can fail.
    assert "zebrafish" in Atlas(base.with_(course="course-a")).ask("zebrafish quartermaster protocol").answer


def ask_http(base: str, data: list) -> dict:
    """Call the app's `ask` API the way any HTTP client can (POST, then read the event stream)."""
    status, said = post_ask(base, data)
    if status != 200:  # refused before it is queued (a filter that is not text)
        return {"event": "refused", "data": said}
    event, out = ask_result(base, said)
    return {"event": event, "data": out}
