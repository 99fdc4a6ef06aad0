"""Students' pseudonyms in the question log: a keyed hash of the user name, and the key kept beside the users db."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from ..config import Settings
from ..errors import AtlasError
from ..private import create_private

KEY_FILE = "log.key"


def pseudonym(key: bytes, name: str) -> str:
    """The student id an instructor sees for user `name` (16 hex digits of HMAC-SHA256)."""
    return hmac.new(key, name.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def student_label(student: str) -> str:
    """'student 7f3a': how the views name a pseudonym."""
    return f"student {student[:4]}"


def log_key(settings: Settings) -> bytes:
    """The pseudonym key: `settings.log_key`, else `log.key` beside the users db (made once, readable by us only)."""
    if settings.log_key:
        return settings.log_key.encode("utf-8")
    path = Path(settings.users_db or settings.index_dir).parent / KEY_FILE  # type: ignore[arg-type]
    fd = create_private(path)
    if fd is None:
        for _ in range(50):  # another process may be writing it this very moment
            text = path.read_text(encoding="ascii").strip()
            if text:
                return text.encode("ascii")
            time.sleep(0.02)
        raise AtlasError(f"The question-log key file {path} is empty: delete it to make a new one.") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip().encode("ascii")
