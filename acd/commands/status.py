"""``acd status``: per server, which node leads, which stand by, how fresh their heartbeats are, how
far behind the shared history is, and the last takeover; read from the database (acd/ha/status.py).

Exit code 0 when every server has exactly one leader with a fresh heartbeat, 1 otherwise (for
scripts and monitoring), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from acd.settings import Settings, load_settings, with_database

if TYPE_CHECKING:
    from acd.ha.status import ServerStatus

__all__ = ["register", "render"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "status",
        help="per server: leader, standby nodes, heartbeat age, history lag, last takeover",
        description="Which node leads each server and which stand by, how old their heartbeats are "
        "(by the database's clock), how far behind the shared caller history is, and the last "
        "takeover, read from acd's database. Exit 0 when every server has one fresh leader, else 1.",
    )
    parser.add_argument("--database", metavar="URL", help="database URL (default: ACD_DATABASE__URL)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    settings = with_database(load_settings(), args.database)
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from acd.commands.database import open_database
    from acd.ha.status import read_status

    engine = await open_database("status", settings, existing=True)
    if engine is None:
        return 1
    try:
        servers = await read_status(engine)
        sqlite = engine.dialect.name == "sqlite"
    finally:
        await engine.dispose()
    if args.json:
        body = {"database": "sqlite" if sqlite else "postgresql", "servers": [s.as_dict() for s in servers]}
        sys.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render(servers, zone=settings.time_zone, sqlite=sqlite))
    if sqlite:
        return 0  # one node per database: nothing to elect
    return 0 if servers and all(s.healthy for s in servers) else 1


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render(servers: list[ServerStatus], *, zone: str = "", sqlite: bool = False) -> str:
    """The table (one server per line) and, under it, the nodes that are not well."""
    from acd.web.format import center_zone

    tz = center_zone(zone)

    def when(epoch: float | None) -> str:
        return "-" if epoch is None else datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S")

    if not servers:
        return "acd status: no server has written to this database yet\n"
    head = ("SERVER", "LEADER", "STANDBY", "HEARTBEAT", "HISTORY LAG", "LAST TAKEOVER")
    rows = []
    notes = []
    for s in servers:
        if s.leader is None and not s.nodes:
            leader = "(one node, SQLite)" if sqlite else "(no leadership yet)"
        else:
            leader = s.leader or "NONE"
        standby = ",".join(s.standbys) or "-"
        takeover = "-"
        if s.last_takeover_at is not None:
            takeover = f"{when(s.last_takeover_at)} from {s.last_takeover_from} ({s.takeovers} in all)"
        rows.append((s.server_id, leader, standby, _ago(s.heartbeat_age), _ago(s.history_lag), takeover))
        for n in s.nodes:
            if n.role == "silent":
                notes.append(
                    f"{s.server_id}: node {n.node} on {n.host} is silent "
                    f"(last heartbeat {_ago(n.heartbeat_age)} ago)"
                )
            elif n.role == "leader" and n.node != s.leader:
                notes.append(f"{s.server_id}: node {n.node} believes it leads; the lease names {s.leader}")
            elif not n.ami_connected and n.role in ("leader", "standby"):
                notes.append(f"{s.server_id}: node {n.node} has no AMI session (it cannot lead)")
        if s.leader is None and s.nodes and any(n.role in ("leader", "standby") for n in s.nodes):
            notes.append(f"{s.server_id}: NO LEADER (standbys take over only while their AMI is up)")
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in (head, *rows)
    ]
    return "\n".join(lines + notes) + "\n"
