"""``acd replay FILE [--json]``: run a raw AMI capture through the core, offline."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="replay a raw AMI capture through the core, offline",
        description="Run a raw AMI capture (the bytes of one manager connection, banner first) through "
        "the same framing and core as the daemon and print every call: outcome, wait, talk, who ended "
        "it, cut-off, callback and repeat links. Events are dated from Asterisk's Timestamp header, "
        "else from the creation time inside their Uniqueids. Exit 2 when the file is not a capture.",
    )
    p.add_argument("file", type=Path, help="raw AMI capture (banner first, CRLF framing)")
    p.add_argument("--json", action="store_true", help="print one JSON document with every call")
    p.add_argument(
        "--start",
        metavar="TIME",
        help="ISO time the capture began: shifts every date so the first event falls on it "
        "(default: the capture's own dates)",
    )
    p.add_argument(
        "--database",
        metavar="URL",
        help="also write the records through the daemon's writer to this database (SQLAlchemy URL); "
        "replaying the same capture twice writes nothing new",
    )
    p.set_defaults(func=run)


def _progress(total: int) -> Any:
    if not sys.stderr.isatty() or total < 5 << 20:
        return None
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        sys.stderr.write(f"\rreplaying {done * 100 // total:3d}%")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return step


def run(args: argparse.Namespace) -> int:
    from acd.capture.reading import capture_problem
    from acd.capture.replay import replay_file, replay_into_database, summarize
    from acd.core.config import CoreConfig
    from acd.settings import load_settings, with_database

    path: Path = args.file
    if not path.is_file():
        print(f"acd replay: no such file: {path}", file=sys.stderr)
        return 1
    problem = capture_problem(path)
    if problem is not None:
        print(f"acd replay: {path}: {problem}", file=sys.stderr)
        return 2
    start = None
    if args.start:
        try:
            start = datetime.fromisoformat(args.start).timestamp()
        except ValueError:
            print(f"acd replay: --start: not an ISO date/time: {args.start!r}", file=sys.stderr)
            return 2
    settings = load_settings()
    config = CoreConfig.from_settings(settings)
    progress = _progress(path.stat().st_size)
    if args.database:
        import asyncio

        target = with_database(settings, args.database)
        result, stats = asyncio.run(
            replay_into_database(path, target, config=config, start=start, progress=progress)
        )
        if stats.spooled:
            print(
                f"acd replay: {stats.spooled} records could not be written yet; they wait in "
                f"{target.database.spool_dir} for the next run",
                file=sys.stderr,
            )
    else:
        result = replay_file(path, config=config, start=start, progress=progress)
    doc = summarize(result)
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(
        f"{path.name}: {doc['asterisk']}, {doc['events']} events, {len(doc['calls'])} calls, "
        f"{doc['anomalies']} anomalies"
    )
    for name, q in sorted(doc["queues"].items()):
        print(
            f"  queue {name:<20} offered {q['offered']:>5}  answered {q['answered']:>5}  "
            f"abandoned {q['abandoned']:>5}  exited {q['exited']:>5}"
        )
    for name, a in sorted(doc["agents"].items()):
        print(
            f"  agent {name:<20} answered {a['answered']:>5}  talk {a['talk_seconds']:>8.0f}s  "
            f"ended by agent {a['ended_by_agent']:>4}"
        )
    for c in doc["calls"]:
        flags = " cut-off(" + ",".join(c["cut_off_reasons"]) + ")" if c["cut_off"] else ""
        link = (
            f" callback of {c['callback_of']}"
            if c["callback_of"]
            else (f" repeat of {c['repeat_of']}" if c["repeat_of"] else "")
        )
        print(
            f"  {c['id']:<22} {c['queue']:<14} {c['caller'] or '-':<12} {c['outcome']:<9} "
            f"{c['agent'] or '-':<8} wait {c['wait_seconds']:>4.0f}s talk {c['talk_seconds']:>5.0f}s "
            f"ended by {c['ended_by'] or '-'}{flags}{link}"
        )
    return 0
