"""Files only their owner may read: the accounts file, the question log and the pseudonym key.

Each is made with mode 0600 whatever the umask; SQLite then gives its -wal and -shm files the database file's mode.
"""

from __future__ import annotations

import os
from pathlib import Path


def create_private(path: Path) -> int | None:
    """Create `path` (and its folder) readable and writable by its owner only, unless it exists; returns the open
    descriptor (write-only) of a file just made, for the caller to fill or close, or None if it existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None


def ensure_private(path: Path) -> None:
    """Make `path` an empty file with mode 0600 if it does not exist yet (an empty file is an empty SQLite db); one
    that others may read (made by an older atlas-qa) is made 0600 when it is ours."""
    fd = create_private(path)
    if fd is not None:
        os.close(fd)
        return
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except OSError:  # not ours to change: left as it is
        pass
