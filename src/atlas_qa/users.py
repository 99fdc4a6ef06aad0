"""Accounts and roles: users, their courses, password and token checks, sessions and login throttling.

One SQLite file holds it all (default `<index_dir>/users.sqlite3`, `ATLAS_QA_USERS_DB`), so every app replica that
opens the same file sees the same users, sessions and failed-login counts (docs/deploy.md says why a file).
Passwords are hashed with bcrypt; API tokens and session ids are random 256-bit strings stored only as SHA-256
hashes, so a copy of the file gives no one a way in.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import AtlasError
from .private import ensure_private

ROLES = ("student", "instructor", "admin")
MAX_FAILURES_PER_USER = 5  # failed logins per user name per window; the next attempts are refused until it passes
MAX_FAILURES_PER_ADDRESS = 20  # failed logins per client address per window
MAX_FAILURES_PER_ACCOUNT = 50  # failed logins per user name from all addresses per window
THROTTLE_WINDOW = 15 * 60  # seconds
KNOWN_FOR = 90 * 24 * 3600  # an address a user signed in from stays theirs this long (seconds)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class UserError(AtlasError):
    """A user cannot be added, found or changed as asked."""


class ThrottledError(AtlasError):
    """Too many failed logins for this user or address: wait and try again."""


@dataclass(frozen=True)
class User:
    """Who is calling: a name, a role and the courses they belong to (an admin belongs to every course)."""

    name: str
    role: str
    courses: tuple[str, ...] = ()

    def in_course(self, course: str) -> bool:
        return self.role == "admin" or course in self.courses

    def teaches(self, course: str) -> bool:
        """May see and change the instructor data (feedback, attribution, re-indexing) of `course`."""
        return self.role == "admin" or (self.role == "instructor" and course in self.courses)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"The role must be one of {', '.join(ROLES)} (got {role!r}).")
    return role


def _failure_keys(name: str, address: str) -> tuple[str, str, str]:
    """The failure-count keys of one attempt: this account from this address, this account, this address."""
    return f"pair:{name}\n{address}", f"user:{name}", f"addr:{address}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class UserStore:
    """The users of a deployment, in one SQLite file shared by its app replicas."""

    def __init__(self, path: Path | str, rounds: int = 12) -> None:
        self.path = Path(path)
        self.rounds = rounds  # bcrypt's cost factor (2**12 rounds; tests use 4 to stay fast)
        self._dummy: bytes | None = None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        ensure_private(self.path)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(
                "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, courses TEXT NOT NULL,"
                " password TEXT NOT NULL, created_at REAL NOT NULL);"
                "CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, name TEXT NOT NULL, created_at REAL);"
                "CREATE TABLE IF NOT EXISTS sessions (hash TEXT PRIMARY KEY, name TEXT NOT NULL, expires_at REAL);"
                "CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, at REAL NOT NULL);"
                "CREATE INDEX IF NOT EXISTS failures_key ON failures (key, at);"
                "CREATE TABLE IF NOT EXISTS known (name TEXT NOT NULL, address TEXT NOT NULL, at REAL NOT NULL,"
                " PRIMARY KEY (name, address));"
            )
            with db:
                yield db
        finally:
            db.close()

    # -- users -------------------------------------------------------------------------------------------------------

    def add(self, name: str, role: str, courses: Sequence[str], password: str) -> User:
        """Add a user (or replace their role, courses and password, which ends their sessions and API token: whoever
        held them under the old password is out)."""
        import bcrypt

        if not _NAME.fullmatch(name):
            raise UserError(f"{name!r} is not a valid user name (letters, digits, . _ @ -; at most 64).")
        check_role(role)
        if len(password) < 8:
            raise UserError("The password must be at least 8 characters long.")
        if len(password.encode()) > 72:
            raise UserError("The password must be at most 72 bytes long (bcrypt's limit).")
        courses = tuple(dict.fromkeys(c for c in courses if c))
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.rounds)).decode()
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO users (name, role, courses, password, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, role, json.dumps(list(courses)), hashed, time.time()),
            )
            db.execute("DELETE FROM tokens WHERE name = ?", (name,))
            db.execute("DELETE FROM sessions WHERE name = ?", (name,))
        return User(name, role, courses)

    def remove(self, name: str) -> None:
        """Remove a user with their tokens and sessions."""
        with self._db() as db:
            if db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise UserError(f"No user named {name!r}.")
            db.execute("DELETE FROM tokens WHERE name = ?", (name,))
            db.execute("DELETE FROM sessions WHERE name = ?", (name,))

    def get(self, name: str) -> User | None:
        if not self.path.exists():
            return None
        with self._db() as db:
            row = db.execute("SELECT name, role, courses FROM users WHERE name = ?", (name,)).fetchone()
        return User(row[0], row[1], tuple(json.loads(row[2]))) if row else None

    def list(self) -> list[User]:
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute("SELECT name, role, courses FROM users ORDER BY name").fetchall()
        return [User(n, r, tuple(json.loads(c))) for n, r, c in rows]

    def any(self) -> bool:
        """Whether any user exists (with none, the app runs in local one-person mode)."""
        return bool(self.list())

    # -- passwords, with throttling ---------------------------------------------------------------------------------
    #
    # Each attempt takes its place in the failure counts *before* bcrypt runs, in one write transaction (BEGIN
    # IMMEDIATE: replicas sharing the file queue on it), and gives it back if the password was right: however many
    # attempts arrive at once, no more than the limits reach the password check. Three counts, per window:
    #   - this account from this address (MAX_FAILURES_PER_USER): guessing one account from one place;
    #   - this address, any account (MAX_FAILURES_PER_ADDRESS): spraying names from one place;
    #   - this account, any address (MAX_FAILURES_PER_ACCOUNT): guessing one account from many places.
    # The last two do not apply to an account on an address it signed in from before (within KNOWN_FOR): one attacker
    # behind a school's NAT, or far away, does not lock out the real users, who sign in from where they always do.

    def login(self, name: str, password: str, address: str, now: float | None = None) -> User | None:
        """The user if the password is theirs; None if not. Raises ThrottledError after too many failures."""
        import bcrypt

        now = time.time() if now is None else now
        pair, account, place = _failure_keys(name, address)
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM failures WHERE at < ?", (now - THROTTLE_WINDOW,))
            count = {
                k: db.execute("SELECT COUNT(*) FROM failures WHERE key = ?", (k,)).fetchone()[0]
                for k in (pair, account, place)
            }
            known = db.execute(
                "SELECT 1 FROM known WHERE name = ? AND address = ? AND at > ?", (name, address, now - KNOWN_FOR)
            ).fetchone()
            if count[pair] >= MAX_FAILURES_PER_USER or (
                not known and (count[place] >= MAX_FAILURES_PER_ADDRESS or count[account] >= MAX_FAILURES_PER_ACCOUNT)
            ):
                raise ThrottledError(
                    "Too many failed sign-ins: wait 15 minutes and try again (or ask an administrator to unlock the "
                    "account)."
                )
            reserved = [
                db.execute("INSERT INTO failures (key, at) VALUES (?, ?)", (k, now)).lastrowid
                for k in (pair, account, place)
            ]
            row = db.execute("SELECT password FROM users WHERE name = ?", (name,)).fetchone()
        if self._dummy is None:
            self._dummy = bcrypt.hashpw(b"-", bcrypt.gensalt(self.rounds))
        stored = row[0].encode() if row else self._dummy  # an unknown name costs the same check
        if not (bcrypt.checkpw(password.encode()[:72], stored) and row):
            return None  # the reserved failures stay counted
        with self._db() as db:
            db.executemany("DELETE FROM failures WHERE rowid = ?", [(r,) for r in reserved])
            db.execute("DELETE FROM failures WHERE key = ?", (pair,))
            db.execute("INSERT OR REPLACE INTO known (name, address, at) VALUES (?, ?, ?)", (name, address, now))
        return self.get(name)

    def unlock(self, name: str, address: str = "") -> int:
        """Forget the failed sign-ins of `name` (and of `address`, if given); returns how many were forgotten."""
        _, account, place = _failure_keys(name, address)
        with self._db() as db:
            prefix = f"pair:{name}\n"
            n = db.execute(
                "DELETE FROM failures WHERE key = ? OR substr(key, 1, ?) = ?", (account, len(prefix), prefix)
            ).rowcount
            if address:
                n += db.execute("DELETE FROM failures WHERE key = ?", (place,)).rowcount
        return n

    # -- API tokens and sessions -------------------------------------------------------------------------------------

    def new_token(self, name: str) -> str:
        """A new API token for `name` (it replaces their previous one); only its hash is stored."""
        if self.get(name) is None:
            raise UserError(f"No user named {name!r}.")
        token = "aq_" + secrets.token_urlsafe(32)
        with self._db() as db:
            db.execute("DELETE FROM tokens WHERE name = ?", (name,))
            db.execute(
                "INSERT INTO tokens (hash, name, created_at) VALUES (?, ?, ?)", (_digest(token), name, time.time())
            )
        return token

    def for_token(self, token: str) -> User | None:
        return self._lookup("SELECT name FROM tokens WHERE hash = ?", (_digest(token),))

    def new_session(self, name: str, seconds: float) -> str:
        """A new session id for `name`, valid for `seconds`."""
        sid = secrets.token_urlsafe(32)
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE expires_at < ?", (time.time(),))
            db.execute(
                "INSERT INTO sessions (hash, name, expires_at) VALUES (?, ?, ?)",
                (_digest(sid), name, time.time() + seconds),
            )
        return sid

    def for_session(self, sid: str) -> User | None:
        return self._lookup("SELECT name FROM sessions WHERE hash = ? AND expires_at > ?", (_digest(sid), time.time()))

    def end_session(self, sid: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE hash = ?", (_digest(sid),))

    def _lookup(self, sql: str, args: tuple[object, ...]) -> User | None:
        if not self.path.exists():
            return None
        with self._db() as db:
            row = db.execute(sql, args).fetchone()
        return self.get(row[0]) if row else None
