"""Where everything that is not a vector lives: accounts, sessions, API tokens, sign-in throttling, secrets and the
question log.

Two ways to keep it, one schema and one code path (SQLAlchemy Core):
- SQLite files, the embedded default: accounts in `Settings.users_db`, the question log in `Settings.log_db` (each file
  holds the whole schema and uses its half), what one host needs; `make run` needs nothing else.
- one PostgreSQL database for all of it when `Settings.database_url` (`ATLAS_QA_DATABASE_URL=postgresql://…`) is set:
  app replicas that share no disk share users, sessions, throttling and the log (docs/deploy.md).

The schema's versions are Alembic migrations (`migrations/`); an engine upgrades its database to the newest version
when first opened (`atlas-qa db upgrade` does it explicitly), so an existing SQLite file is upgraded in place.
`copy` moves one deployment's data into another database, verified by counts and a checksum per table.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .config import Settings
from .errors import AtlasError
from .private import ensure_private

SCHEMA_VERSION = "0002"  # the newest migration (tests check it is Alembic's head)
CONNECT_TIMEOUT_S = 5  # a database that does not answer fails a request (or the start) in seconds, not minutes
OPEN_ENGINES = 8  # engines kept open per process (tests open many SQLite files; a deployment uses one or two)

metadata = sa.MetaData()
users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("courses", sa.Text, nullable=False),  # JSON list
    sa.Column("password", sa.Text, nullable=False),  # bcrypt hash
    sa.Column("created_at", sa.Float, nullable=False),
)
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("hash", sa.Text, primary_key=True),  # SHA-256 of the token
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float),
)
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("hash", sa.Text, primary_key=True),  # SHA-256 of the session id
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float),
)
failures = sa.Table(
    "failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("failures_key", "key", "at"),
)
known = sa.Table(
    "known",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("address", sa.Text, primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)
secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
questions = sa.Table(
    "questions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("course", sa.Text, nullable=False),
    sa.Column("t", sa.Float, nullable=False),
    sa.Column("student", sa.Text, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("searched", sa.Text, nullable=False),
    sa.Column("refused", sa.Integer, nullable=False),
    sa.Column("follow_up", sa.Integer, nullable=False),
    sa.Column("pages", sa.Text, nullable=False),
    sa.Column("passages", sa.Text, nullable=False),
    sa.Column("works", sa.Text, nullable=False),
    sa.Column("helpful", sa.Integer, nullable=False, server_default="-1"),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("rated_at", sa.Float),
    sa.Column("review_id", sa.Text),  # the reviewed answer the student was given, if one was
    sa.Index("questions_by_time", "course", "t"),
)
answers = sa.Table(
    "answers",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("answer", sa.Text, nullable=False),  # the answer and its citations (JSON)
    sa.Column("vector", sa.LargeBinary, nullable=False),  # the searched question's embedding, float32
)
imports = sa.Table(
    "imports",
    metadata,
    sa.Column("course", sa.Text, primary_key=True),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)
reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("course", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # endorsed | composed | not_covered
    sa.Column("questions", sa.Text, nullable=False),  # JSON list: the questions it answers
    sa.Column("vectors", sa.LargeBinary, nullable=False),  # their embeddings, float32 rows
    sa.Column("answer", sa.Text, nullable=False),  # the answer as /ask returns it (JSON); {} when not covered
    sa.Column("note", sa.Text, nullable=False, server_default=""),  # the instructor's own words
    sa.Column("pages", sa.Text, nullable=False),  # JSON {page_id: content hash} of the cited pages when reviewed
    sa.Column("reviewed_by", sa.Text, nullable=False),
    sa.Column("reviewed_at", sa.Float, nullable=False),
    sa.Index("reviews_by_course", "course"),
)
ACCOUNT_TABLES = (users, tokens, sessions, failures, known, secrets)
LOG_TABLES = (questions, answers, imports, reviews)


class DatabaseUnavailable(AtlasError):
    """The database cannot be reached or written now (PostgreSQL down, a SQLite file read-only): try again later."""

    status = 503
    code = "database_unavailable"

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message  # the database's own words (what a health sentence quotes)


def accounts_url(settings: Settings) -> str:
    """Where users, sessions, tokens, throttling and secrets live."""
    return settings.database_url or sqlite_url(settings.users_db)  # type: ignore[arg-type]


def log_url(settings: Settings) -> str:
    """Where the question log lives."""
    return settings.database_url or sqlite_url(settings.log_db)  # type: ignore[arg-type]


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path).absolute()}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for a server database."""
    return Path(url.split(":///", 1)[1]) if url.startswith("sqlite:") else None


def describe(url: str) -> str:
    """A URL without its password, for messages."""
    try:
        return sa.make_url(_driver_url(url)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (a malformed URL is described as given, minus anything after '@')
        return url.rsplit("@", 1)[-1]


def _driver_url(url: str) -> str:
    """`postgresql://` means psycopg 3 (SQLAlchemy alone would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_engines: OrderedDict[str, Engine] = OrderedDict()
_engines_lock = threading.Lock()
_making_lock = threading.Lock()


def engine(url: str) -> Engine:
    """The (pooled, shared) engine of `url`, its database upgraded to the newest schema on first use. A SQLite file
    is made (with its folder) readable by its owner only."""
    path = sqlite_path(url)
    if path is not None:
        ensure_private(path)
    with _engines_lock:
        found = _engines.get(url)
        if found is not None:
            _engines.move_to_end(url)
            return found
    with _making_lock:  # one engine made at a time: Alembic's context is process-wide, and one per URL
        with _engines_lock:
            found = _engines.get(url)
        if found is None:
            found = _make_engine(url)
        with _engines_lock:
            _engines[url] = found
            _engines.move_to_end(url)
            while len(_engines) > OPEN_ENGINES:
                _engines.popitem(last=False)[1].dispose()  # still usable: it reconnects if someone holds it
    return found


def forget(url: str) -> None:
    """Close the engine of `url` (its file was deleted or replaced; the next use opens the file again)."""
    with _engines_lock:
        found = _engines.pop(url, None)
    if found is not None:
        found.dispose()


def _make_engine(url: str) -> Engine:
    path = sqlite_path(url)
    if path is not None:
        made = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(made, "connect", _sqlite_pragmas)
    elif url.startswith(("postgresql", "postgres")):
        made = sa.create_engine(
            _driver_url(url),
            pool_size=10,
            max_overflow=20,
            pool_timeout=CONNECT_TIMEOUT_S,
            pool_pre_ping=True,  # a server restarted while serving: stale connections are replaced, not failed
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
        )
    else:
        raise AtlasError(f"Unsupported database URL {describe(url)!r}: use postgresql://… (or leave it unset).")
    try:
        with made.connect() as conn:
            current = _version(conn)
        if current != SCHEMA_VERSION:
            upgrade(made)
    except sa.exc.DBAPIError as exc:
        made.dispose()
        raise unavailable(url, exc) from None
    return made


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: a power loss may lose the last commits, never the file
    cursor.close()


def _version(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(target: Engine) -> None:
    """Bring the database to the newest schema (Alembic `upgrade head`); replicas upgrading at once take turns."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with target.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def version(url: str) -> str | None:
    """The schema version of the database at `url` (None: none yet)."""
    with connect(url) as conn:
        return _version(conn)


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    """A connection to `url` in one transaction, committed at the end of the block; a database that cannot be reached
    or written raises DatabaseUnavailable (a sentence naming it)."""
    try:
        with engine(url).begin() as conn:
            yield conn
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise unavailable(url, exc) from None


def unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseUnavailable(
        f"The database {describe(url)} cannot be used now ({reason}); try again shortly.", reason
    )


def check(url: str) -> None:
    """Raise DatabaseUnavailable within `CONNECT_TIMEOUT_S` when the database cannot be reached (the server's start)."""
    with connect(url) as conn:
        conn.execute(sa.text("SELECT 1"))


def upsert(conn: Connection, table: sa.Table, row: Mapping[str, Any], replace: bool = True) -> None:
    """Insert `row`, or on a primary-key conflict replace its other columns (`replace`) or leave the old row."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(dict(row))
    keys = [c.name for c in table.primary_key]
    changed = {k: stmt.excluded[k] for k in row if k not in keys}
    if replace and changed:
        conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=changed))
    else:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=keys))


# -- moving a deployment's data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableCopy:
    """One table copied: its rows and checksum on both sides."""

    table: str
    rows: int
    checksum: str


def checksum(conn: Connection, table: sa.Table) -> tuple[int, str]:
    """The table's row count and a SHA-256 over its rows in primary-key order (the same on SQLite and PostgreSQL)."""
    digest = hashlib.sha256()
    n = 0
    for row in conn.execute(sa.select(table).order_by(*table.primary_key)):
        digest.update(repr(tuple(_canonical(v) for v in row)).encode())
        n += 1
    return n, digest.hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, float):
        return repr(value)
    return value


def copy(sources: Sequence[tuple[str, Sequence[sa.Table]]], target_url: str, batch: int = 2000) -> list[TableCopy]:
    """Copy `tables` from each source URL into the database at `target_url` (upgraded first), which must hold none of
    their rows yet; verified by counts and checksums per table (AtlasError when they differ)."""
    done: list[TableCopy] = []
    with connect(target_url) as out:
        for _, tables in sources:
            for table in tables:
                if out.execute(sa.select(sa.func.count()).select_from(table)).scalar():
                    raise AtlasError(
                        f"{describe(target_url)} already holds {table.name} rows: copy into an empty database."
                    )
    for url, tables in sources:
        for table in tables:
            with connect(url) as src, connect(target_url) as out:
                result = src.execution_options(yield_per=batch).execute(sa.select(table))
                for rows in result.partitions(batch):
                    out.execute(sa.insert(table), [r._asdict() for r in rows])
                if out.dialect.name == "postgresql" and table is failures:  # the id sequence goes on after the copy
                    out.execute(
                        sa.text(
                            "SELECT setval(pg_get_serial_sequence('failures', 'id'), "
                            "COALESCE((SELECT max(id) FROM failures), 0) + 1, false)"
                        )
                    )
            with connect(url) as src, connect(target_url) as out:
                before, after = checksum(src, table), checksum(out, table)
            if before != after:
                raise AtlasError(
                    f"The copy of {table.name} differs: {before[0]} rows in {describe(url)}, {after[0]} in "
                    f"{describe(target_url)} (checksums {before[1][:12]} / {after[1][:12]})."
                )
            done.append(TableCopy(table.name, before[0], before[1]))
    return done
