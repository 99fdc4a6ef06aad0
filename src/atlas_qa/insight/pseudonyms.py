"""Students' pseudonyms in the question log: a keyed hash of the user name; the key is in the accounts database."""

from __future__ import annotations

import hashlib
import hmac
from secrets import token_hex

import sqlalchemy as sa

from .. import database
from ..config import Settings
from ..database import secrets, upsert

KEY_NAME = "log_key"  # its row in `secrets`
KEY_FILE = "log.key"  # where earlier releases kept it, beside the accounts file


def pseudonym(key: bytes, name: str) -> str:
    """The student id an instructor sees for user `name` (16 hex digits of HMAC-SHA256)."""
    return hmac.new(key, name.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def student_label(student: str) -> str:
    """'student 7f3a': how the views name a pseudonym."""
    return f"student {student[:4]}"


def log_key(settings: Settings) -> bytes:
    """The pseudonym key: `settings.log_key`, else the one in the accounts database (`secrets`), made once: taken
    from the file `log.key` beside a SQLite accounts file of an earlier release (the same pseudonyms), else new.
    Replicas starting together agree: the first one stored wins, the others read it."""
    if settings.log_key:
        return settings.log_key.encode("utf-8")
    url = database.accounts_url(settings)
    with database.connect(url) as db:
        found = db.execute(sa.select(secrets.c.value).where(secrets.c.name == KEY_NAME)).scalar()
    if found:
        return str(found).encode("ascii")
    path = database.sqlite_path(url)
    earlier = path.parent / KEY_FILE if path is not None else None
    value = earlier.read_text(encoding="ascii").strip() if earlier and earlier.exists() else ""
    with database.connect(url) as db:
        upsert(db, secrets, {"name": KEY_NAME, "value": value or token_hex(32)}, replace=False)
        return str(db.execute(sa.select(secrets.c.value).where(secrets.c.name == KEY_NAME)).scalar_one()).encode()
