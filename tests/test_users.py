"""Accounts: bcrypt passwords, hashed tokens and sessions, throttled logins, and the `atlas-qa users` commands."""

import io
import json
import sqlite3
import threading

import pytest
import sqlalchemy as sa

from atlas_qa import database
from atlas_qa.cli import main
from atlas_qa.database import DatabaseUnavailable
from atlas_qa.users import (
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    MAX_FAILURES_PER_USER,
    ThrottledError,
    User,
    UserError,
    UserStore,
)


@pytest.fixture
def store(tmp_path, backend):
    """A store on each database: the SQLite file, then a fresh PostgreSQL database."""
    return UserStore(backend or tmp_path / "users.sqlite3", rounds=4)


def stored_text(store: UserStore) -> str:
    """Every value of every accounts table, as text (what a copy of the database gives away)."""
    with database.connect(store.url) as db:
        return repr([db.execute(sa.select(t)).all() for t in database.ACCOUNT_TABLES])


def test_passwords_are_bcrypt_hashes_and_only_the_right_one_signs_in(store):
    store.add("ana", "student", ["polisci"], "correct horse")
    assert store.login("ana", "correct horse", "10.0.0.1") == User("ana", "student", ("polisci",))
    assert store.login("ana", "wrong horse!", "10.0.0.1") is None
    assert store.login("nobody", "correct horse", "10.0.0.1") is None
    with database.connect(store.url) as db:
        stored = db.execute(sa.text("SELECT password FROM users")).scalar_one()
    assert stored.startswith("$2b$") and "correct horse" not in stored


def test_bad_users_are_refused_with_a_clear_message(store):
    for args, message in [
        (("a b", "student", [], "long enough"), "not a valid user name"),
        (("ana", "teacher", [], "long enough"), "role must be one of"),
        (("ana", "student", [], "short"), "at least 8"),
        (("ana", "student", [], "x" * 73), "at most 72 bytes"),
    ]:
        with pytest.raises(UserError, match=message):
            store.add(*args)
    assert store.list() == []
    with pytest.raises(UserError, match="No user"):
        store.remove("ghost")


def test_roles_and_courses_decide_what_a_user_may_do():
    student, prof, admin = User("s", "student", ("a",)), User("p", "instructor", ("a",)), User("x", "admin")
    assert student.in_course("a") and not student.in_course("b") and not student.teaches("a")
    assert prof.teaches("a") and not prof.teaches("b")
    assert admin.teaches("anything") and admin.in_course("anything")


def test_logins_are_throttled_per_account_and_address(store):
    store.add("ana", "student", ["a"], "correct horse")
    for _ in range(MAX_FAILURES_PER_USER):
        assert store.login("ana", "nope nope", "10.0.0.1", now=1000.0) is None
    with pytest.raises(ThrottledError, match="wait 15 minutes"):
        store.login("ana", "correct horse", "10.0.0.1", now=1001.0)  # even the right password, from there
    assert store.login("ana", "correct horse", "10.0.0.2", now=1001.0) is not None  # the real ana, elsewhere
    assert store.login("ana", "correct horse", "10.0.0.1", now=1000.0 + 15 * 60 + 1) is not None  # window passed
    for i in range(MAX_FAILURES_PER_ADDRESS):
        store.login(f"guess{i}", "nope nope", "10.9.9.9", now=5000.0)
    with pytest.raises(ThrottledError):
        store.login("ana", "correct horse", "10.9.9.9", now=5001.0)  # an address spraying names: new names wait
    assert store.login("ana", "correct horse", "10.0.0.3", now=5001.0) is not None
    for i in range(MAX_FAILURES_PER_ACCOUNT):  # one account guessed from many addresses
        store.login("ana", "nope nope", f"10.7.{i // 200}.{i % 200}", now=9000.0)
    with pytest.raises(ThrottledError):
        store.login("ana", "correct horse", "10.0.0.4", now=9001.0)  # a new address waits
    assert store.login("ana", "correct horse", "10.0.0.3", now=9001.0) is not None  # where she signed in before
    assert store.unlock("ana") == MAX_FAILURES_PER_ACCOUNT * 2
    assert store.login("ana", "correct horse", "10.0.0.4", now=9002.0) is not None


def test_tokens_and_sessions_are_stored_as_hashes_and_end(store):
    store.add("ana", "instructor", ["a"], "correct horse")
    token = store.new_token("ana")
    assert store.for_token(token).name == "ana" and store.for_token(token + "x") is None
    newer = store.new_token("ana")
    assert store.for_token(token) is None and store.for_token(newer).name == "ana"  # a new token replaces the old
    sid = store.new_session("ana", 60)
    assert store.for_session(sid).role == "instructor"
    store.end_session(sid)
    assert store.for_session(sid) is None
    expired = store.new_session("ana", -1)
    assert store.for_session(expired) is None
    raw = store.path.read_bytes() if store.path else b""
    assert newer.encode() not in raw and sid.encode() not in raw
    assert newer not in stored_text(store) and sid not in stored_text(store)
    store.remove("ana")
    assert store.for_token(newer) is None and store.get("ana") is None


def test_users_commands(tmp_path, monkeypatch, capsys):
    index = ["--index-dir", str(tmp_path / "idx")]
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    assert (
        main(
            [
                "users",
                "add",
                "prof",
                "--role",
                "instructor",
                "--course",
                "a",
                "--course",
                "b",
                "--password-stdin",
                *index,
            ]
        )
        == 0
    )
    assert "prof: instructor in a, b" in capsys.readouterr().out
    assert main(["users", "list", "--json", *index]) == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "prof", "role": "instructor", "courses": ["a", "b"]}]
    assert main(["users", "token", "prof", *index]) == 0
    token = capsys.readouterr().out.strip()
    assert UserStore(tmp_path / "idx" / "users.sqlite3").for_token(token).name == "prof"
    assert main(["users", "remove", "ghost", *index]) == 2
    assert "No user named 'ghost'" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "x", "--role", "student", "--password-stdin", *index]) == 2
    assert main(["users", "remove", "prof", *index]) == 0
    assert UserStore(tmp_path / "idx" / "users.sqlite3").list() == []


def test_the_accounts_file_is_readable_by_its_owner_only(tmp_path):
    import os
    import stat

    old = os.umask(0o022)  # the usual umask, under which a new file is world-readable
    try:
        store = UserStore(tmp_path / "deep" / "users.sqlite3", rounds=4)
        store.add("ana", "student", ["a"], "correct horse")
        store.new_session("ana", 60)
    finally:
        os.umask(old)
    made = sorted(p.name for p in store.path.parent.iterdir())
    assert "users.sqlite3" in made
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in store.path.parent.iterdir()} == dict.fromkeys(made, 0o600)
    older = tmp_path / "older.sqlite3"  # made world-readable by an older atlas-qa
    UserStore(older, rounds=4).add("ana", "student", ["a"], "correct horse")
    older.chmod(0o644)
    assert UserStore(older).get("ana") is not None and stat.S_IMODE(older.stat().st_mode) == 0o600


def test_replicas_share_users_sessions_and_throttling(tmp_path, backend):
    """Two stores on one database (two app replicas): a session made on one works on the other, ends everywhere, and
    failed sign-ins made at once on both count as one account's: exactly the limit reaches the password check."""
    where = backend or tmp_path / "users.sqlite3"
    a, b = UserStore(where, rounds=4), UserStore(where, rounds=4)
    a.add("ana", "student", ["x"], "correct horse")
    sid = a.new_session("ana", 60)
    assert b.for_session(sid) == User("ana", "student", ("x",))
    a.end_session(sid)
    assert b.for_session(sid) is None
    results: list[object] = []

    def guess(s: UserStore) -> None:
        try:
            results.append(s.login("ana", "wrong horse", "10.0.0.9"))
        except ThrottledError as exc:
            results.append(exc)

    threads = [threading.Thread(target=guess, args=(s,)) for s in (a, b) * 8]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == MAX_FAILURES_PER_USER
    assert sum(isinstance(r, ThrottledError) for r in results) == 16 - MAX_FAILURES_PER_USER


def test_an_accounts_file_of_an_earlier_release_is_upgraded_in_place(tmp_path):
    """The hand-made SQLite schema of earlier releases (failures without an id) becomes the current one: users,
    tokens and failed sign-ins kept, and the next failure is counted with the earlier ones."""
    path = tmp_path / "users.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, courses TEXT NOT NULL,"
        " password TEXT NOT NULL, created_at REAL NOT NULL);"
        "CREATE TABLE tokens (hash TEXT PRIMARY KEY, name TEXT NOT NULL, created_at REAL);"
        "CREATE TABLE sessions (hash TEXT PRIMARY KEY, name TEXT NOT NULL, expires_at REAL);"
        "CREATE TABLE failures (key TEXT NOT NULL, at REAL NOT NULL);"
        "CREATE INDEX failures_key ON failures (key, at);"
        "CREATE TABLE known (name TEXT NOT NULL, address TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (name, address));"
    )
    import time

    import bcrypt

    hashed = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode()
    old.execute("INSERT INTO users VALUES ('ana', 'student', '[\"x\"]', ?, 0)", (hashed,))
    now = time.time()
    old.executemany("INSERT INTO failures VALUES (?, ?)", [("pair:ana\n10.0.0.1", now)] * (MAX_FAILURES_PER_USER - 1))
    old.commit()
    old.close()
    store = UserStore(path, rounds=4)
    assert store.get("ana") == User("ana", "student", ("x",))
    assert database.version(store.url) == database.SCHEMA_VERSION
    assert store.login("ana", "wrong horse", "10.0.0.1") is None  # the fifth failure, with the four kept
    with pytest.raises(ThrottledError):
        store.login("ana", "correct horse", "10.0.0.1")


def test_a_seen_credential_still_works_while_the_database_is_down(pg_cluster_own):
    """PostgreSQL stopped: a token and a session this process saw still name their user (asking goes on); signing
    in and a credential never seen fail with DatabaseUnavailable (503), a sentence naming the database; after the
    restart everything works again."""
    store = UserStore(pg_cluster_own.new_database(), rounds=4)
    store.add("ana", "student", ["x"], "correct horse")
    token, sid = store.new_token("ana"), store.new_session("ana", 600)
    assert store.for_token(token).name == "ana" and store.for_session(sid).name == "ana"
    pg_cluster_own.stop()
    try:
        assert store.for_token(token).name == "ana" and store.for_session(sid).name == "ana"
        with pytest.raises(DatabaseUnavailable, match="127.0.0.1") as caught:
            store.login("ana", "correct horse", "10.0.0.1")
        assert caught.value.status == 503 and "password" not in str(caught.value)
        with pytest.raises(DatabaseUnavailable):
            store.for_token("aq_never-seen")
    finally:
        pg_cluster_own.start()
    assert store.login("ana", "correct horse", "10.0.0.1") == User("ana", "student", ("x",))
