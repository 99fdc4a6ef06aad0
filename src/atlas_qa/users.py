"""Accounts and roles: users, their courses, password and token checks, sessions and login throttling.

They live in the accounts database (database.py): the SQLite file `users_db` by default, PostgreSQL when
`ATLAS_QA_DATABASE_URL` is set, so every app replica sees the same users, sessions and failed-login counts.
Passwords are hashed with bcrypt; API tokens and session ids are random 256-bit strings stored only as SHA-256
hashes, so a copy of the database gives no one a way in.

While the database cannot be reached, a token or session this process saw in the last `REMEMBER_S` seconds still
identifies its user (students keep asking through a database restart); signing in, and anything that changes
accounts, fail with DatabaseUnavailable (503) until it is back.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import database
from .config import Settings
from .database import DatabaseUnavailable, failures, known, sessions, tokens, upsert, users
from .errors import AtlasError

ROLES = ("student", "instructor", "admin")
MAX_FAILURES_PER_USER = 5  # failed logins per user name per window; the next attempts are refused until it passes
MAX_FAILURES_PER_ADDRESS = 20  # failed logins per client address per window
MAX_FAILURES_PER_ACCOUNT = 50  # failed logins per user name from all addresses per window
THROTTLE_WINDOW = 15 * 60  # seconds
KNOWN_FOR = 90 * 24 * 3600  # an address a user signed in from stays theirs this long (seconds)
REMEMBER_S = 15 * 60  # how long a seen token or session identifies its user while the database is down
REMEMBERED = 10_000  # tokens and sessions remembered at most
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


_USERS = sa.select(users.c.name, users.c.role, users.c.courses)  # what a User is read from


def _user(row: Any) -> User:
    return User(row[0], row[1], tuple(json.loads(row[2])))


class UserStore:
    """The users of a deployment, in its accounts database (a SQLite file or PostgreSQL), shared by its replicas."""

    def __init__(self, where: Path | str, rounds: int = 12) -> None:
        """`where`: a database URL, or the path of a SQLite file."""
        self.url = str(where) if "://" in str(where) else database.sqlite_url(where)
        self.rounds = rounds  # bcrypt's cost factor (2**12 rounds; tests use 4 to stay fast)
        self._dummy: bytes | None = None
        self._seen: OrderedDict[str, tuple[User, float]] = OrderedDict()  # credential digest -> user, when seen
        self._seen_lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> UserStore:
        return cls(database.accounts_url(settings))

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a server database."""
        return database.sqlite_path(self.url)

    def _exists(self) -> bool:
        """Whether there is anything to read (a SQLite file not made yet holds no users: reading does not make it)."""
        return self.path is None or self.path.exists()

    @contextmanager
    def _db(self) -> Iterator[Connection]:
        with database.connect(self.url) as db:
            yield db

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
        row = {"name": name, "role": role, "courses": json.dumps(list(courses)), "password": hashed}
        with self._db() as db:
            upsert(db, users, {**row, "created_at": time.time()})
            self._sign_out(db, name)
        return User(name, role, courses)

    def remove(self, name: str) -> None:
        """Remove a user with their tokens and sessions."""
        with self._db() as db:
            if db.execute(sa.delete(users).where(users.c.name == name)).rowcount == 0:
                raise UserError(f"No user named {name!r}.")
            self._sign_out(db, name)

    def _sign_out(self, db: Connection, name: str) -> None:
        db.execute(sa.delete(tokens).where(tokens.c.name == name))
        db.execute(sa.delete(sessions).where(sessions.c.name == name))
        with self._seen_lock:
            for digest in [d for d, (u, _) in self._seen.items() if u.name == name]:
                del self._seen[digest]

    def get(self, name: str) -> User | None:
        if not self._exists():
            return None
        with self._db() as db:
            row = db.execute(_USERS.where(users.c.name == name)).first()
        return _user(row) if row else None

    def list(self) -> list[User]:
        if not self._exists():
            return []
        with self._db() as db:
            rows = db.execute(_USERS.order_by(users.c.name)).all()
        return [_user(row) for row in rows]

    def any(self) -> bool:
        """Whether any user exists (with none, the app runs in local one-person mode)."""
        return bool(self.list())

    # -- passwords, with throttling ---------------------------------------------------------------------------------
    #
    # Each attempt takes its place in the failure counts *before* bcrypt runs, in one write transaction (replicas
    # take turns: SQLite's write lock, taken by the first statement, a DELETE; PostgreSQL's lock on the table), and
    # gives it back if the password was right: however many attempts arrive at once, on however many replicas, no
    # more than the limits reach the password check. Three counts, per window:
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
            if db.dialect.name == "postgresql":
                db.execute(sa.text("LOCK TABLE failures IN SHARE ROW EXCLUSIVE MODE"))
            db.execute(sa.delete(failures).where(failures.c.at < now - THROTTLE_WINDOW))
            count = {
                k: db.execute(sa.select(sa.func.count()).where(failures.c.key == k)).scalar_one()
                for k in (pair, account, place)
            }
            seen_here = db.execute(
                sa.select(known.c.at).where(
                    known.c.name == name, known.c.address == address, known.c.at > now - KNOWN_FOR
                )
            ).first()
            if count[pair] >= MAX_FAILURES_PER_USER or (
                not seen_here
                and (count[place] >= MAX_FAILURES_PER_ADDRESS or count[account] >= MAX_FAILURES_PER_ACCOUNT)
            ):
                raise ThrottledError(
                    "Too many failed sign-ins: wait 15 minutes and try again (or ask an administrator to unlock the "
                    "account)."
                )
            reserved = [
                db.execute(sa.insert(failures).values(key=k, at=now).returning(failures.c.id)).scalar_one()
                for k in (pair, account, place)
            ]
            row = db.execute(sa.select(users.c.password).where(users.c.name == name)).first()
        if self._dummy is None:
            self._dummy = bcrypt.hashpw(b"-", bcrypt.gensalt(self.rounds))
        stored = row[0].encode() if row else self._dummy  # an unknown name costs the same check
        if not (bcrypt.checkpw(password.encode()[:72], stored) and row):
            return None  # the reserved failures stay counted
        with self._db() as db:
            db.execute(sa.delete(failures).where(failures.c.id.in_(reserved) | (failures.c.key == pair)))
            upsert(db, known, {"name": name, "address": address, "at": now})
        return self.get(name)

    def unlock(self, name: str, address: str = "") -> int:
        """Forget the failed sign-ins of `name` (and of `address`, if given); returns how many were forgotten."""
        _, account, place = _failure_keys(name, address)
        prefix = f"pair:{name}\n"
        with self._db() as db:
            n = db.execute(
                sa.delete(failures).where(
                    (failures.c.key == account) | (sa.func.substr(failures.c.key, 1, len(prefix)) == prefix)
                )
            ).rowcount
            if address:
                n += db.execute(sa.delete(failures).where(failures.c.key == place)).rowcount
        return int(n)

    # -- API tokens and sessions -------------------------------------------------------------------------------------

    def new_token(self, name: str) -> str:
        """A new API token for `name` (it replaces their previous one); only its hash is stored."""
        if self.get(name) is None:
            raise UserError(f"No user named {name!r}.")
        token = "aq_" + secrets.token_urlsafe(32)
        with self._db() as db:
            db.execute(sa.delete(tokens).where(tokens.c.name == name))
            db.execute(sa.insert(tokens).values(hash=_digest(token), name=name, created_at=time.time()))
        return token

    def for_token(self, token: str) -> User | None:
        digest = _digest(token)
        named = _USERS.join_from(users, tokens, tokens.c.name == users.c.name).where(tokens.c.hash == digest)
        return self._identify(digest, named)

    def new_session(self, name: str, seconds: float) -> str:
        """A new session id for `name`, valid for `seconds`."""
        sid = secrets.token_urlsafe(32)
        with self._db() as db:
            db.execute(sa.delete(sessions).where(sessions.c.expires_at < time.time()))
            db.execute(sa.insert(sessions).values(hash=_digest(sid), name=name, expires_at=time.time() + seconds))
        return sid

    def for_session(self, sid: str) -> User | None:
        digest = _digest(sid)
        named = _USERS.join_from(users, sessions, sessions.c.name == users.c.name).where(
            sessions.c.hash == digest, sessions.c.expires_at > time.time()
        )
        return self._identify(digest, named)

    def end_session(self, sid: str) -> None:
        digest = _digest(sid)
        with self._seen_lock:
            self._seen.pop(digest, None)
        with self._db() as db:
            db.execute(sa.delete(sessions).where(sessions.c.hash == digest))

    def _identify(self, digest: str, query: sa.Select[Any]) -> User | None:
        """The user a credential names (one query: the credential joined to its user); the one this process last saw
        for it while the database cannot be reached."""
        if not self._exists():
            return None
        try:
            with self._db() as db:
                row = db.execute(query).first()
            user = _user(row) if row else None
        except DatabaseUnavailable:
            with self._seen_lock:
                remembered = self._seen.get(digest)
            if remembered and time.time() - remembered[1] < REMEMBER_S:
                return remembered[0]
            raise
        with self._seen_lock:
            if user is None:
                self._seen.pop(digest, None)
            else:
                self._seen[digest] = (user, time.time())
                self._seen.move_to_end(digest)
                while len(self._seen) > REMEMBERED:
                    self._seen.popitem(last=False)
        return user
