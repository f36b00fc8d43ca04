"""acd's own log pipeline, captured for one test and put back afterwards."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import structlog

from acd.logs import configure_logging

__all__ = ["captured_logs"]


class Captured:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    def records(self) -> list[dict[str, Any]]:
        """Every JSON line logged so far."""
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.startswith("{")]

    def at(self, *levels: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("level") in levels]


@contextlib.contextmanager
def captured_logs(level: str = "info") -> Iterator[Captured]:
    """JSON logs into memory, exactly as the daemon writes them; the previous configuration (root
    handlers, level, structlog's defaults) is restored on exit."""
    root = logging.getLogger()
    handlers, old_level = list(root.handlers), root.level
    captured = Captured()
    configure_logging("json", level, captured.stream, cache=False)  # the level may differ next time
    try:
        yield captured
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(old_level)
        structlog.reset_defaults()
