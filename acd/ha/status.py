"""What ``acd status`` reads: per server, who leads, who stands by, how fresh, how far behind.

Ages are computed by the database (its clock against the heartbeats it stamped), so the hosts'
clocks never enter. A node whose heartbeat is older than ``STALE`` seconds is shown as silent: its
process is gone or cut off, whatever its last row says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Float, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.store.schema.base import table_of
from acd.store.schema.operation import Node, ServerLease
from acd.store.schema.records import Call

__all__ = ["STALE", "NodeStatus", "ServerStatus", "read_status"]

STALE = 10.0  # seconds without a heartbeat: the node is silent


@dataclass(frozen=True, slots=True)
class NodeStatus:
    node: str
    role: str  # leader | standby | stopped | silent
    heartbeat_age: float | None
    host: str
    pid: int
    version: str
    ami_connected: bool
    kpi: bool
    history_lag: float | None


@dataclass(frozen=True, slots=True)
class ServerStatus:
    server_id: str
    leader: str | None
    fence: int | None
    leader_since: float | None
    heartbeat_age: float | None  # the lease's, written by the leader
    covered_until: float | None
    takeovers: int
    last_takeover_at: float | None
    last_takeover_from: str | None
    history_lag: float | None  # the leader's
    nodes: list[NodeStatus] = field(default_factory=list)
    last_record_at: float | None = None  # newest call record of this server (event time)

    @property
    def standbys(self) -> list[str]:
        return [n.node for n in self.nodes if n.role == "standby"]

    @property
    def healthy(self) -> bool:
        """A leader whose heartbeat is fresh, and no second node that believes it leads."""
        leaders = [n for n in self.nodes if n.role == "leader"]
        fresh = self.heartbeat_age is not None and self.heartbeat_age <= STALE
        return self.leader is not None and fresh and len(leaders) <= 1

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["standbys"] = self.standbys
        data["healthy"] = self.healthy
        return data


def _db_now(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "postgresql":
        return literal_column("extract(epoch from clock_timestamp())", Float)
    return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Float)


async def read_status(engine: AsyncEngine) -> list[ServerStatus]:
    """Every server the database knows (leases, nodes, or only records), sorted by id."""
    servers, nodes, calls = table_of(ServerLease), table_of(Node), table_of(Call)
    async with engine.connect() as conn:
        now = _db_now(conn)
        leases = (await conn.execute(select(servers, (now - servers.c.heartbeat_at).label("age")))).all()
        rows = (await conn.execute(select(nodes, (now - nodes.c.heartbeat_at).label("age")))).all()
        newest = (
            await conn.execute(
                select(calls.c.server_id, func.max(calls.c.ended_at)).group_by(calls.c.server_id)
            )
        ).all()
    by_server: dict[str, list[NodeStatus]] = {}
    for r in rows:
        age = float(r.age) if r.age is not None else None
        role = r.role
        if role != "stopped" and (age is None or age > STALE):
            role = "silent"
        by_server.setdefault(r.server_id, []).append(
            NodeStatus(
                node=r.node,
                role=role,
                heartbeat_age=age,
                host=r.host,
                pid=r.pid,
                version=r.version,
                ami_connected=bool(r.ami_connected),
                kpi=bool(r.kpi),
                history_lag=r.history_lag,
            )
        )
    last = {sid: float(at) for sid, at in newest if at is not None}
    out: dict[str, ServerStatus] = {}
    for r in leases:
        members = sorted(by_server.get(r.server_id, []), key=lambda n: n.node)
        leader_row = next((n for n in members if n.node == r.leader), None)
        out[r.server_id] = ServerStatus(
            server_id=r.server_id,
            leader=r.leader,
            fence=int(r.token) if r.leader is not None else None,
            leader_since=r.leader_since,
            heartbeat_age=float(r.age) if r.age is not None and r.leader is not None else None,
            covered_until=r.covered_until,
            takeovers=int(r.takeovers),
            last_takeover_at=r.last_takeover_at,
            last_takeover_from=r.last_takeover_from,
            history_lag=leader_row.history_lag if leader_row is not None else None,
            nodes=members,
            last_record_at=last.get(r.server_id),
        )
    for sid, at in last.items():  # servers with records and no leadership (SQLite, or older runs)
        if sid not in out:
            out[sid] = ServerStatus(sid, None, None, None, None, None, 0, None, None, None, [], at)
    return [out[k] for k in sorted(out)]
