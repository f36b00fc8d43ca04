"""``acd import queue_log FILE...``: Asterisk's queue_log history into acd's database.

The same reader and core as the daemon's gap fill (acd.queuelog.importer): rotated and gzip files
in any order, idempotent (calls already stored are left alone), progress on a terminal, a summary
at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from acd.settings import load_settings, with_database

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import",
        help="import history: Asterisk's queue_log files into the database",
        description="Record the calls Asterisk's queue_log files describe (plain, rotated or .gz; in "
        "any order), as acd records the calls it recovers after a gap. Calls already in the "
        "database are left as they are, so importing twice changes nothing.",
    )
    parser.add_argument("kind", choices=["queue_log"], help="what to import (queue_log)")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="queue_log files")
    parser.add_argument("--database", metavar="URL", help="database URL (default: ACD_DATABASE__URL)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        print(f"acd import: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    settings = with_database(load_settings(), args.database)
    return asyncio.run(_run(settings, args.files))


class _Progress:
    """One self-overwriting line on a terminal (at most 10 updates a second); silent otherwise."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if self.live and now - self._last >= 0.1:
            self._last = now
            sys.stderr.write(f"\r\x1b[Kacd import: {text}")
            sys.stderr.flush()

    def done(self) -> None:
        if self.live:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _when(at: int | None) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)) + " UTC"


async def _run(settings: object, files: list[Path]) -> int:
    from acd.commands.database import open_database
    from acd.queuelog.importer import import_queue_log
    from acd.settings import Settings

    assert isinstance(settings, Settings)
    engine = await open_database("import", settings, existing=False)
    if engine is None:
        return 1
    progress = _Progress()
    try:
        summary = await import_queue_log(settings, engine, files, progress=progress)
    except OSError as err:
        progress.done()
        print(f"acd import: cannot read: {err}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    progress.done()
    print(
        f"read {summary.files} file(s), {summary.lines} lines ({summary.unreadable_lines} not queue_log "
        f"lines), {_when(summary.first_at)} to {_when(summary.last_at)}"
    )
    print(
        f"{summary.entries} queue entries: {summary.written} recorded, {summary.already_stored} already "
        f"in the database, {summary.incomplete} incomplete (began before the oldest file, or not ended)"
    )
    if summary.unknown_agents:
        names = ", ".join(sorted(summary.unknown_agents)[:10])
        more = len(summary.unknown_agents) - 10
        print(
            f"agents acd does not know yet, recorded by name: {names}"
            + (f" and {more} more" if more > 0 else "")
        )
    return 0
