"""The simulator's queue_log: the file Asterisk writes beside AMI, line for line as app_queue does.

Format and events follow the captures' ``*.queue_log`` files and app_queue.c (Asterisk 22):
``epoch|callid|queue|agent|EVENT|data...``, whole seconds of the simulated clock, one line written
and flushed at a time (Asterisk fflushes each line), so a reader sees it at once. Written only when
the simulator is given a path (``acd sim --queue-log FILE``).

This module only formats and writes; the PBX's pieces (acd/sim/app_queue.py, endings.py,
members.py...) say when, exactly where they emit the matching AMI events. It knows nothing of
acd's reader.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path
from typing import IO

__all__ = ["QueueLogFile"]


class QueueLogFile:
    """Append-only ``queue_log``; :meth:`rotate` moves it aside as logrotate would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self.lines = 0

    def write(self, at: float, callid: str, queue: str, agent: str, event: str, *data: object) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        fields = "|".join(str(d) for d in data)
        self._fh.write(f"{int(at)}|{callid}|{queue}|{agent}|{event}|{fields}\n")
        self._fh.flush()
        self.lines += 1

    def rotate(self, *, compress_older: bool = True) -> None:
        """``queue_log`` becomes ``queue_log.1``; ``.1`` becomes ``.2.gz`` (logrotate's
        ``compress`` + ``delaycompress``), and so on; a new ``queue_log`` starts empty."""
        self.close()
        parent, name = self.path.parent, self.path.name
        numbered = []
        for p in parent.glob(name + ".*"):
            head = p.name[len(name) + 1 :].removesuffix(".gz")
            if head.isdigit():
                numbered.append((int(head), p))
        for n, p in sorted(numbered, reverse=True):
            target = parent / f"{name}.{n + 1}.gz"
            if p.suffix == ".gz":
                os.replace(p, target)
            elif compress_older:
                with p.open("rb") as src, gzip.open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                p.unlink()
            else:
                os.replace(p, parent / f"{name}.{n + 1}")
        if self.path.exists():
            os.replace(self.path, parent / f"{name}.1")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
