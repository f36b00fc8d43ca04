"""``acd report``: per-queue and per-agent numbers over a period (table, ``--json`` or ``--csv``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from acd.settings import Settings, load_settings, with_database

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "report",
        help="offered, answered, SL, ASA, AHT, cut-offs, repeats, FCR, credit",
        description="Per queue and per agent over a period (default: the last 24 h): offered, "
        "answered, abandoned, service level, ASA, AHT, cut-offs, callbacks, repeat contacts, FCR, "
        "calls without notes and credit, read from acd's database (never created by this command). "
        "The table fits 120 columns with a legend; --wide, --json and --csv give every figure.",
    )
    parser.add_argument("--database", metavar="URL", help="database URL (default: ACD_DATABASE__URL)")
    parser.add_argument("--since", default=None, metavar="DURATION", help="the last DURATION (default 24h)")
    parser.add_argument("--from", dest="start", metavar="TIME", help="period start (ISO 8601 or epoch)")
    parser.add_argument("--to", dest="end", metavar="TIME", help="period end, exclusive (default: now)")
    parser.add_argument("--now", metavar="TIME", help=argparse.SUPPRESS)  # the clock's reading (tests)
    parser.add_argument(
        "--server",
        default="all",
        metavar="NAME",
        help="one server's numbers (ACD_SERVER_ID); default all: the center's, with each server's "
        "beside it when several servers share the database",
    )
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object")
    fmt.add_argument("--csv", action="store_true", help="CSV, one row per queue and per agent")
    fmt.add_argument(
        "--wide", action="store_true", help="every column (7 d / 30 d windows, callbacks by routing)"
    )
    parser.set_defaults(func=main)


def _period(args: argparse.Namespace) -> tuple[float, float, float]:
    from acd.reporting.period import parse_duration, parse_instant

    now = parse_instant(args.now) if args.now else time.time()
    if args.since and args.start:
        raise ValueError("give --since or --from, not both")
    end = parse_instant(args.end) if args.end else now
    start = parse_instant(args.start) if args.start else end - parse_duration(args.since or "24h")
    if end <= start:
        raise ValueError("the period is empty (--to must be after --from)")
    return start, end, now


def main(args: argparse.Namespace) -> int:
    try:
        start, end, now = _period(args)
    except ValueError as err:
        print(f"acd report: {err}", file=sys.stderr)
        return 2
    settings = with_database(load_settings(), args.database)
    return asyncio.run(_run(settings, args, start, end, now))


async def _run(settings: Settings, args: argparse.Namespace, start: float, end: float, now: float) -> int:
    from acd.commands.database import open_database
    from acd.reads.summary import ALL_SERVERS, load_report
    from acd.reporting.period import records_ahead
    from acd.reporting.render import to_csv, to_json, to_table

    engine = await open_database("report", settings, existing=True)  # a report never creates one
    if engine is None:
        return 1
    server = ALL_SERVERS if args.server == "all" else args.server
    try:
        if not args.now and not args.end:
            # Looking for records ahead scans every entry row (seconds on a big center) and almost
            # always finds none: the report of the period as given is read meanwhile.
            ahead, report = await asyncio.gather(
                records_ahead(engine, now), load_report(engine, settings, start, end, now, server_id=server)
            )
            if ahead > 0:
                print(
                    "acd report: records run ahead of this clock (a sped-up simulation?); the period "
                    "ends at the newest record",
                    file=sys.stderr,
                )
                shift = ahead + 1.0
                start, end, now = start + shift, end + shift, now + shift
                report = await load_report(engine, settings, start, end, now, server_id=server)
        else:
            report = await load_report(engine, settings, start, end, now, server_id=server)
    finally:
        await engine.dispose()
    if args.json:
        sys.stdout.write(to_json(report) + "\n")
    elif args.csv:
        sys.stdout.write(to_csv(report))
    else:
        sys.stdout.write(to_table(report, wide=args.wide))
    return 0
