"""The data layer: one schema with Alembic versions, `atlas-qa db upgrade|status|copy`, and a server database that
cannot be reached named in one sentence, fast."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atlas_qa import database
from atlas_qa.cli import main
from atlas_qa.config import Settings
from atlas_qa.insight import QuestionLog
from atlas_qa.types import Answer, Citation, Cite
from atlas_qa.users import UserStore
from tests.embedder import HashEmbedder
from tests.live import free_port

from .conftest import DATA, ROOT


def test_the_schema_version_is_alembic_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(database.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == database.SCHEMA_VERSION


def _polisci_log(settings: Settings) -> list[str]:
    """The polisci excerpt's questions asked by three students, some rated: the log of a one-host deployment."""
    questions = [json.loads(line)["question"] for line in (DATA / "polisci_questions.jsonl").open()]
    cite = Citation(
        1, "m00002", "Politics", "src", "", "", "", (Cite("Pal, 2014", "Pal (2014). Book."),), "A.", 0.9, 0, 2
    )
    log = QuestionLog(settings, HashEmbedder().embed_batch)
    ids = []
    for i, q in enumerate(questions):
        answer = Answer(q, "A. [1]", i % 7 == 0, () if i % 7 == 0 else (cite,))
        ids.append(log.record("polisci", f"student{i % 3}", answer, q, when=time.time() - 3600 + i))
        if i % 4 == 0:
            log.rate("polisci", ids[-1], helpful=i % 8 == 0, comment=f"comment {i}")
    log.close()
    return ids


def test_db_copy_round_trips_the_polisci_question_log(tmp_path, pg_url, monkeypatch, capsys):
    """SQLite files -> PostgreSQL -> a new SQLite file: counts and checksums equal at each step, the same records and
    the same pseudonyms on the other side (the key moves with the accounts)."""
    here = Settings(index_dir=tmp_path / "one-host")
    UserStore(database.accounts_url(here), rounds=4).add("prof", "instructor", ["polisci"], "prof-password")
    ids = _polisci_log(here)
    before = QuestionLog(here).entries("polisci")
    assert len(before) == len(ids) == 36 and sum(e.helpful is not None for e in before) == 9

    monkeypatch.setenv("ATLAS_QA_INDEX_DIR", str(here.index_dir))
    assert main(["db", "copy", "--to", pg_url]) == 0
    out = capsys.readouterr().out
    assert "questions\t36 rows" in out and "users\t1 rows" in out and "same in both" in out

    there = Settings(index_dir=tmp_path / "elsewhere", database_url=pg_url)
    assert QuestionLog(there).entries("polisci") == before
    assert QuestionLog(there).student("student1") == QuestionLog(here).student("student1")
    assert UserStore(pg_url).get("prof") is not None

    back = tmp_path / "back.sqlite3"
    monkeypatch.setenv("ATLAS_QA_DATABASE_URL", pg_url)
    assert main(["db", "copy", "--to", database.sqlite_url(back)]) == 0
    first, second = (
        {c.table: (c.rows, c.checksum) for c in database.copy(src, database.sqlite_url(tmp_path / n))}
        for src, n in (
            ([(database.log_url(here), database.LOG_TABLES)], "check-a.sqlite3"),
            ([(database.sqlite_url(back), database.LOG_TABLES)], "check-b.sqlite3"),
        )
    )
    assert first == second and first["questions"][0] == 36  # the round trip changed nothing

    assert main(["db", "copy", "--to", pg_url]) == 2  # a target that holds data is refused, not merged
    assert "already holds" in capsys.readouterr().err


def test_db_status_and_upgrade_say_where_the_data_lives(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ATLAS_QA_INDEX_DIR", str(tmp_path / "idx"))
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"accounts: sqlite:///{tmp_path / 'idx' / 'users.sqlite3'} (schema {database.SCHEMA_VERSION})" in out
    assert "question log: sqlite:///" in out
    monkeypatch.setenv("ATLAS_QA_DATABASE_URL", "mysql://nobody@127.0.0.1/x")
    assert main(["db", "status"]) == 2
    assert "must be a postgresql://" in capsys.readouterr().err


def test_serving_against_an_unreachable_database_stops_in_seconds_naming_it(tmp_path):
    """Nothing listens at the database's address: `serve` ends with one sentence naming the host, no traceback."""
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT / "src"),
        "HOME": str(tmp_path),
        "ATLAS_QA_INDEX_DIR": str(tmp_path / "idx"),
        "ATLAS_QA_DATABASE_URL": f"postgresql://atlas:secret@127.0.0.1:{port}/atlas",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "atlas_qa.cli", "serve", "--no-ingest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr and "secret" not in done.stderr, done.stderr
    print(f"serve stopped {took:.1f} s after its start")


@pytest.mark.parametrize("replace", [True, False])
def test_upsert_replaces_or_keeps_on_both_databases(tmp_path, backend, replace):
    url = backend or database.sqlite_url(tmp_path / "x.sqlite3")
    with database.connect(url) as db:
        database.upsert(db, database.secrets, {"name": "a", "value": "1"})
        database.upsert(db, database.secrets, {"name": "a", "value": "2"}, replace=replace)
        rows = db.execute(database.sa.select(database.secrets)).all()
    assert [tuple(r) for r in rows] == [("a", "2" if replace else "1")]


def test_engines_made_at_once_in_threads_all_upgrade(tmp_path):
    """Threads opening new databases at the same moment (the log writer and a request, at an app's first question):
    each is made once and upgraded, none fails (Alembic's context is process-wide)."""
    import threading

    urls = [database.sqlite_url(tmp_path / f"db{i % 4}.sqlite3") for i in range(16)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(urls))

    def open_one(url: str) -> None:
        start.wait()
        try:
            database.version(url)
        except BaseException as exc:  # noqa: BLE001 (every failure is the test's finding)
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and {database.version(u) for u in urls} == {database.SCHEMA_VERSION}
