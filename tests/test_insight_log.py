"""The question log: pseudonyms, background writes, retention, export and purge (CLI), shared records."""

from __future__ import annotations

import json
import stat
import time

import pytest

from atlas_qa.cli import main
from atlas_qa.config import Settings
from atlas_qa.insight import QuestionLog, pseudonym, student_label
from atlas_qa.insight.entry import DAY
from atlas_qa.insight.pseudonyms import log_key
from atlas_qa.types import Answer, Citation, Cite
from tests.embedder import HashEmbedder


def _answer(question: str = "What did Pal say about rules?", refused: bool = False) -> Answer:
    cit = Citation(1, "p1", "Rules page", "src", "Rules", "Pal", "213", (Cite("Pal, 2014", ""),), "Rules.", 0.9, 0, 6)
    return Answer(question, "Not covered." if refused else "Rules. [1]", refused, () if refused else (cit,))


def _log(settings: Settings) -> QuestionLog:
    return QuestionLog(settings, HashEmbedder().embed_batch)


@pytest.fixture
def settings(tmp_path) -> Settings:
    """The SQLite files (tests of the files themselves)."""
    return Settings(index_dir=tmp_path / "index")


@pytest.fixture
def db_settings(tmp_path, backend, monkeypatch) -> Settings:
    """Each database in turn: the SQLite files, then PostgreSQL (for the CLI too, through the environment)."""
    if backend:
        monkeypatch.setenv("ATLAS_QA_DATABASE_URL", backend)
    return Settings(index_dir=tmp_path / "index", database_url=backend)


def test_students_are_keyed_hashes_and_names_are_never_stored(settings, tmp_path):
    log = _log(settings)
    log.record("default", "alice", _answer(), "What did he say?", follow_up=True)
    log.close()
    accounts = tmp_path / "index" / "users.sqlite3"  # the key lives in the accounts database, readable by us only
    assert stat.S_IMODE(accounts.stat().st_mode) == 0o600 and not (tmp_path / "index" / "log.key").exists()
    [e] = _log(settings).entries("default")
    assert e.student == pseudonym(log_key(settings), "alice") != pseudonym(b"another key", "alice")
    assert len(e.student) == 16 and student_label(e.student) == f"student {e.student[:4]}"
    assert (e.question, e.searched, e.follow_up, e.pages, e.helpful) == (
        "What did he say?",
        "What did Pal say about rules?",
        True,
        ("p1",),
        None,
    )
    assert e.passages == ("p1#0-6",) and e.works == (("Pal, 2014", "", "p1"),)  # not in the page's references
    assert b"alice" not in settings.log_db.read_bytes()  # the file never holds the name
    assert _log(settings.with_(log_key="k")).student("alice") != e.student  # the key decides


def test_the_log_and_its_key_are_readable_by_their_owner_only(settings):
    import os

    old = os.umask(0o022)  # the usual umask, under which a new file is world-readable
    try:
        log = _log(settings)
        log.record("default", "alice", _answer())
        log.flush()
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in settings.log_db.parent.iterdir()}
        log.close()
    finally:
        os.umask(old)
    assert {"questions.sqlite3", "questions.sqlite3-wal", "users.sqlite3"} <= set(files)
    assert files == dict.fromkeys(files, 0o600)


def test_a_log_deleted_while_serving_is_noticed_and_records_go_to_a_new_file(settings):
    import threading

    log = _log(settings)
    log.record("default", "alice", _answer())
    log.flush()
    assert log.count("default") == 1 and log.health() == ""
    for path in settings.log_db.parent.glob("questions.sqlite3*"):
        path.unlink()  # an administrator's rm while the app serves
    for _ in range(3):
        log.record("default", "bob", _answer())
    log.flush()
    assert settings.log_db.exists()
    counts = []
    reader = threading.Thread(target=lambda: counts.append(_log(settings).count("default")))
    reader.start()
    reader.join()
    assert counts == [3] and log.count("default") == 3  # stored in the new file (before: into the deleted one)
    assert "was deleted or replaced while serving" in log.health()
    log.close()


def test_a_log_forgotten_by_another_thread_while_its_file_is_looked_at_is_not_taken_for_replaced(settings, monkeypatch):
    """The writer thread closes its connections (`_reconnect`, after a failed write) while a request compares the
    file with the one in use: the same file is not said to be "deleted or replaced" (it was, under load)."""
    from atlas_qa.insight import log as question_log

    log = _log(settings)
    log.record("default", "alice", _answer())
    log.flush()
    looked_at = question_log._file_id

    def meanwhile(path):
        found = looked_at(path)
        log._reconnect()  # what the writer thread does between the request's stat and its comparison
        return found

    monkeypatch.setattr(question_log, "_file_id", meanwhile)
    log._check_file()
    assert log.health() == "" and log.count("default") == 1
    log.close()


def test_writes_are_in_order_and_a_rating_lands_on_its_record(db_settings):
    log = _log(db_settings)
    rid = log.record("default", "bob", _answer(refused=True), "Where is the cafeteria?")
    log.rate("default", rid, False)
    log.rate("default", rid, comment="Please add it")
    log.flush()
    [e] = log.entries("default")
    assert e.id == rid and e.refused and e.pages == () and e.helpful is False and e.comment == "Please add it"
    log.rate("default", "no-such-record", True)  # ignored, never a new record
    log.flush()
    assert log.count("default") == 1 and log.count("other") == 0


def test_old_records_are_deleted_on_first_use_after_log_days(db_settings):
    log = _log(db_settings)
    now = time.time()
    for age in (200, 100, 1):
        log.record("default", "a", _answer(), f"asked {age} days ago", when=now - age * DAY)
    log.close()
    assert [e.question for e in _log(db_settings).entries("default")] == ["asked 100 days ago", "asked 1 days ago"]
    assert [e.question for e in _log(db_settings.with_(log_days=30)).entries("default")] == ["asked 1 days ago"]


def test_export_and_purge_from_the_command_line(db_settings, capsys):
    log = _log(db_settings)
    start = time.time() - 3 * DAY
    log.record("polisci", "alice", _answer(), "alice early", when=start)
    log.record("polisci", "bob", _answer(), "bob early", when=start + 1)  # records are in time order
    log.record("polisci", "alice", _answer(), "alice late", when=start + 2 * DAY)
    log.close()
    day = time.strftime("%Y-%m-%d", time.gmtime(start + DAY))

    assert main(["log", "export", "--course", "polisci", "--student", "alice"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["question"] for r in rows] == ["alice early", "alice late"]
    assert rows[0]["citations"][0]["speaker"] == "Pal" and "name" not in rows[0]
    assert main(["log", "export", "--course", "polisci", "--before", day]) == 0
    assert [r["question"] for r in json.loads(capsys.readouterr().out)] == ["alice early", "bob early"]

    assert main(["log", "purge", "--course", "polisci"]) == 2  # nothing said: nothing purged
    assert "--before" in capsys.readouterr().err
    assert main(["log", "purge", "--course", "polisci", "--before", "yesterday-ish"]) == 2
    assert "not a date" in capsys.readouterr().err
    assert main(["log", "purge", "--course", "polisci", "--student", pseudonym(log_key(db_settings), "alice")]) == 0
    assert "deleted 2 questions" in capsys.readouterr().out
    assert [e.question for e in _log(db_settings).entries("polisci")] == ["bob early"]


def test_a_user_name_of_sixteen_hex_digits_is_a_name_in_data_requests(db_settings, capsys):
    """Issue 25: `--student 0123456789abcdef` finds the records of the user of that name (not an unknown pseudonym);
    where it is both a name and another student's pseudonym, the request says which to write."""
    hex_name = "0123456789abcdef"
    log = _log(db_settings)
    log.record("polisci", hex_name, _answer(), "asked by the hex-named user")
    log.record("polisci", "carol", _answer(), "asked by carol")
    log.close()
    assert main(["log", "export", "--course", "polisci", "--student", hex_name]) == 0
    assert [r["question"] for r in json.loads(capsys.readouterr().out)] == ["asked by the hex-named user"]
    carol = pseudonym(log_key(db_settings), "carol")
    assert main(["log", "export", "--course", "polisci", "--student", carol]) == 0  # a pseudonym still works
    assert [r["question"] for r in json.loads(capsys.readouterr().out)] == ["asked by carol"]
    log = _log(db_settings)
    log.record("polisci", "dave", _answer(), "asked by dave")
    log.close()
    dave = pseudonym(log_key(db_settings), "dave")
    log = _log(db_settings)
    log.record("polisci", dave, _answer(), "asked by a user named like dave's pseudonym")
    log.close()
    assert main(["log", "export", "--course", "polisci", "--student", dave]) == 2
    assert f"name:{dave}" in capsys.readouterr().err
    assert main(["log", "export", "--course", "polisci", "--student", f"pseudonym:{dave}"]) == 0
    assert [r["question"] for r in json.loads(capsys.readouterr().out)] == ["asked by dave"]
    assert main(["log", "purge", "--course", "polisci", "--student", f"name:{dave}"]) == 0
    assert "deleted 1 question" in capsys.readouterr().out


def test_an_admin_can_show_names_in_the_export(db_settings, capsys, monkeypatch):
    from atlas_qa.users import UserStore

    UserStore.for_settings(db_settings).add("alice", "student", ["default"], "a-long-password-1")
    log = _log(db_settings)
    log.record("default", "alice", _answer(), "q")
    log.close()
    monkeypatch.setenv("ATLAS_QA_LOG_SHOW_NAMES", "true")
    assert main(["log", "export"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "alice"
