"""The journal's writes and syncs, in one place.

Whatever a full or read-only file system does to the journal, it does through these calls (the
segments' appends and the checkpoint's rewrite both go through :func:`write_all`), so the tests
make the disk fail by replacing that one function, as a real tmpfs does in the fault-injection
suite. Callers look it up on the module at call time for that reason.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir", "sync", "write_all"]


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def sync(fd: int) -> None:
    os.fdatasync(fd)


def fsync_dir(directory: Path) -> None:
    """A file created or removed is durable only once its directory is synced too."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
