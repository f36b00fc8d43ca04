"""``acd purge --before DATE``: erase caller numbers and notes of older calls; counts survive."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from acd.settings import Settings, load_settings, with_database

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "purge",
        help="erase personal data (caller numbers, notes) of older calls",
        description="Erase caller numbers and notes of calls that arrived before a date; the counts "
        "and durations stay, so reports over the purged period do not change.",
    )
    parser.add_argument("--database", metavar="URL", help="database URL (default: ACD_DATABASE__URL)")
    parser.add_argument(
        "--before",
        metavar="DATE",
        help="erase calls that arrived before DATE (ISO 8601 or epoch); "
        "default: now minus ACD_DATABASE__RETENTION_DAYS",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from acd.reporting.period import parse_instant

    settings = with_database(load_settings(), args.database)
    now = time.time()
    if args.before:
        try:
            before = parse_instant(args.before)
        except ValueError as err:
            print(f"acd purge: --before: {err}", file=sys.stderr)
            return 2
    elif settings.database.retention_days:
        before = now - settings.database.retention_days * 86400.0
    else:
        print("acd purge: give --before DATE or set ACD_DATABASE__RETENTION_DAYS", file=sys.stderr)
        return 2
    if before > now:
        print("acd purge: --before is in the future", file=sys.stderr)
        return 2
    return asyncio.run(_run(settings, before, now))


async def _run(settings: Settings, before: float, now: float) -> int:
    from acd.commands.database import open_database
    from acd.store.purge import purge

    engine = await open_database("purge", settings, existing=True)  # nothing to purge in no database
    if engine is None:
        return 1
    try:
        result = await purge(engine, settings.server_id, before, now)
    finally:
        await engine.dispose()
    print(
        f"erased personal data of {result.calls} call entries and notes of {result.notes} outcomes;"
        f" dropped {result.rollups} summary rollups older than acd keeps them"
    )
    return 0
