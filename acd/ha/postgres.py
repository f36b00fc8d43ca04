"""The leadership connection: one dedicated PostgreSQL session per node, and the SQL it runs.

Why a session of its own, outside SQLAlchemy's pool: a session advisory lock belongs to the
session that took it, and PostgreSQL frees it the moment that session ends. So the session is
the lease, and this connection is tuned for it to end promptly when its node goes silent:

- ``idle_session_timeout`` (PostgreSQL >= 14): a leader heartbeats every second, so its session
  is never idle for long unless the node is stalled (SIGSTOP, a paused VM) or cut off; then
  PostgreSQL ends the session after ``session_timeout`` and the standby takes the lock. On an
  older server the setting does not exist: acd warns once and relies on TCP keepalives, which end
  the session only when the node's host stops answering (a stalled process on a live host keeps
  its lock until it resumes, finds its heartbeat late and steps down);
- TCP keepalives on both ends and ``TCP_USER_TIMEOUT`` on ours: a dead peer is noticed in seconds,
  not after the kernel's two hours;
- a ``statement_timeout`` so that no heartbeat waits on a lock forever.

PgBouncer in transaction mode cannot carry this (session locks and LISTEN need one server
session per client session): point ``ACD_DATABASE__URL`` at PostgreSQL itself, or at a pooler in
session mode.

Lock keys: the two-integer form of the advisory lock functions, ``(CLASS, key)``, where ``key`` is
the server's ``lock_key`` from the ``servers`` table (unique, allocated once per server id, so two
server names can never collide the way hashes could) and ``0`` is the ``kpi`` lock: the one node
that exports the center-wide KPIs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from sqlalchemy.engine import make_url

__all__ = [
    "CLASS",
    "KPI_KEY",
    "LeaseConnection",
    "LockNotPermitted",
    "NodeInfo",
    "Takeover",
    "asyncpg_params",
]

log = structlog.get_logger("acd.ha")

CLASS = 0x61636400  # 'acd\0': the first key of every acd advisory lock
KPI_KEY = 0
IDLE_SESSION_TIMEOUT_SINCE = 140000  # server_version_num of PostgreSQL 14
NOW = "extract(epoch from clock_timestamp())::double precision"


class LockNotPermitted(Exception):
    """The database role may not take advisory locks: acd cannot know which node leads."""


@dataclass(frozen=True, slots=True)
class Takeover:
    """What becoming the leader found in the ``servers`` row."""

    token: int
    covered_until: float | None  # the previous leader's committed coverage (event time)
    previous: str | None  # the node that led and did not release (None: a clean start)
    previous_heartbeat_age: float | None


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """This node as its heartbeat describes it in the ``nodes`` table."""

    server_id: str
    node: str
    instance: str
    host: str
    pid: int
    version: str


def asyncpg_params(url: str) -> dict[str, Any]:
    """asyncpg's connect() arguments for a SQLAlchemy PostgreSQL URL."""
    parsed = make_url(url)
    params: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "database": parsed.database,
    }
    query = dict(parsed.query)
    if "host" in query:  # a Unix socket directory given as ?host=/run/postgresql
        params["host"] = query.pop("host")
    for key in ("ssl", "sslmode"):
        if key in query:
            params["ssl"] = query.pop(key)
    return {k: v for k, v in params.items() if v is not None}


def _keepalive(conn: asyncpg.Connection, user_timeout: float) -> None:
    """Client-side keepalives and a bound on unacknowledged data (Linux options where present)."""
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 2), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 3)):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
        option = getattr(socket, "TCP_USER_TIMEOUT", None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, int(user_timeout * 1000))


class LeaseConnection:
    """One node's leadership session. Every method may raise a connection error; the leadership
    task (acd/ha/node.py) decides what it means."""

    def __init__(
        self,
        url: str,
        info: NodeInfo,
        *,
        session_timeout: float,
        step_down: float,
        op_timeout: float,
    ) -> None:
        self.params = asyncpg_params(url)
        self.info = info
        self.session_timeout = session_timeout
        self.step_down = step_down
        self.op_timeout = op_timeout
        self.conn: asyncpg.Connection | None = None
        self.lock_key: int | None = None
        self.server_version = 0
        self.idle_timeout_set = False
        self._warned_old = False

    @property
    def connected(self) -> bool:
        return self.conn is not None and not self.conn.is_closed()

    async def connect(self) -> None:
        """Open the session, tune it, check the role's rights and learn the server's lock key."""
        self.close()
        application = f"acd {self.info.server_id} {self.info.node} leadership"[:63]
        conn = await asyncpg.connect(
            **self.params,
            timeout=max(self.op_timeout * 2, 2.0),
            statement_cache_size=0,
            server_settings={
                "application_name": application,
                "tcp_keepalives_idle": "2",
                "tcp_keepalives_interval": "1",
                "tcp_keepalives_count": "3",
                "statement_timeout": str(int(max(self.op_timeout, 0.5) * 2000)),
            },
        )
        try:
            _keepalive(conn, self.step_down)
            self.server_version = int(await conn.fetchval("SHOW server_version_num"))
            if self.server_version >= IDLE_SESSION_TIMEOUT_SINCE:
                await conn.execute(f"SET idle_session_timeout = {int(self.session_timeout * 1000)}")
                self.idle_timeout_set = True
            elif not self._warned_old:
                self._warned_old = True
                log.warning(
                    "ha_session_timeout_unavailable",
                    server_version=self.server_version,
                    effect="a stalled leader keeps its lock until it resumes; a dead or cut-off host "
                    "is still noticed through TCP keepalives",
                    fix="PostgreSQL 14 or newer",
                )
            await self._check_rights(conn)
            self.lock_key = await self._lock_key(conn)
        except BaseException:
            conn.terminate()
            raise
        self.conn = conn

    def close(self) -> None:
        """Drop the session at once: PostgreSQL frees every lock it held."""
        conn, self.conn = self.conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def _check_rights(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            "SELECT f, has_function_privilege(f, 'EXECUTE') AS ok FROM unnest($1::text[]) AS f",
            ["pg_try_advisory_lock(integer, integer)", "pg_advisory_unlock(integer, integer)"],
        )
        denied = [r["f"] for r in rows if not r["ok"]]
        if denied:
            role = await conn.fetchval("SELECT current_user")
            raise LockNotPermitted(
                f"the database role {role!r} may not take advisory locks ({', '.join(denied)}: "
                "permission denied); acd needs them to know which node of a server leads: "
                f"GRANT EXECUTE ON FUNCTION {', '.join(denied)} TO {role}"
            )

    async def _lock_key(self, conn: asyncpg.Connection) -> int:
        """This server's lock key, allocated on first use (retried if two servers race for one)."""
        for _ in range(5):
            key = await conn.fetchval(
                "SELECT lock_key FROM servers WHERE server_id = $1", self.info.server_id
            )
            if key is not None:
                return int(key)
            with contextlib.suppress(asyncpg.UniqueViolationError):
                await conn.execute(
                    "INSERT INTO servers (server_id, lock_key, token, takeovers) "
                    "SELECT $1, coalesce(max(lock_key), 0) + 1, 0, 0 FROM servers "
                    "ON CONFLICT (server_id) DO NOTHING",
                    self.info.server_id,
                )
        raise RuntimeError(f"could not allocate a lock key for server {self.info.server_id!r}")

    def _conn(self) -> asyncpg.Connection:
        conn = self.conn
        if conn is None or conn.is_closed():
            raise ConnectionError("the leadership session is closed")
        return conn

    async def _bounded(self, coro: Any) -> Any:
        async with asyncio.timeout(self.op_timeout):
            return await coro

    # -- the lock --------------------------------------------------------------------------------

    async def try_lock(self, key: int | None = None) -> bool:
        """Try the server's lock (or ``key``, e.g. :data:`KPI_KEY`) without waiting."""
        conn = self._conn()
        which = self.lock_key if key is None else key
        try:
            got = await self._bounded(conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", CLASS, which))
        except asyncpg.InsufficientPrivilegeError as exc:
            raise LockNotPermitted(f"the database role may not take advisory locks: {exc}") from None
        return bool(got)

    async def unlock(self, key: int) -> None:
        conn = self._conn()
        await self._bounded(conn.fetchval("SELECT pg_advisory_unlock($1, $2)", CLASS, key))

    async def take(self) -> Takeover:
        """With the lock held: raise the fencing token and name this node the leader."""
        conn = self._conn()
        row = await self._bounded(
            conn.fetchrow(
                f"""
                WITH before AS (
                    SELECT leader, {NOW} - heartbeat_at AS age FROM servers WHERE server_id = $1
                )
                UPDATE servers SET
                    token = token + 1,
                    takeovers = takeovers + CASE WHEN b.leader IS NOT NULL AND b.leader <> $2
                                                 THEN 1 ELSE 0 END,
                    last_takeover_at = CASE WHEN b.leader IS NOT NULL AND b.leader <> $2
                                            THEN {NOW} ELSE last_takeover_at END,
                    last_takeover_from = CASE WHEN b.leader IS NOT NULL AND b.leader <> $2
                                              THEN b.leader ELSE last_takeover_from END,
                    leader = $2,
                    leader_since = {NOW},
                    heartbeat_at = {NOW}
                FROM before b
                WHERE servers.server_id = $1
                RETURNING servers.token, servers.covered_until, b.leader AS previous, b.age
                """,
                self.info.server_id,
                self.info.node,
            )
        )
        previous = row["previous"]
        return Takeover(
            token=int(row["token"]),
            covered_until=row["covered_until"],
            previous=previous if previous is not None and previous != self.info.node else None,
            previous_heartbeat_age=row["age"] if previous is not None else None,
        )

    async def heartbeat(
        self,
        *,
        role: str,
        token: int | None,
        covered_until: float | None,
        ami_connected: bool,
        kpi: bool,
        history_lag: float | None,
        started_at: float,
    ) -> tuple[bool, bool]:
        """One round trip: this node's row; for a leader also the lease row, written only while
        the lock is still held by this session and the token is still ours.
        Returns (lease confirmed, kpi lock held by this session)."""
        conn = self._conn()
        info = self.info
        row = await self._bounded(
            conn.fetchrow(
                f"""
                WITH held AS (
                    SELECT objid::bigint AS key FROM pg_locks
                    WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                      AND classid = $3::bigint::oid AND objsubid = 2
                ),
                lease AS (
                    UPDATE servers SET heartbeat_at = {NOW},
                        covered_until = greatest(covered_until, $6::double precision)
                    WHERE server_id = $1 AND $5::bigint IS NOT NULL AND token = $5::bigint
                      AND leader = $2 AND EXISTS (SELECT 1 FROM held WHERE key = $4)
                    RETURNING 1
                ),
                me AS (
                    INSERT INTO nodes (server_id, node, instance, role, heartbeat_at, started_at, host,
                                       pid, version, ami_connected, kpi, history_lag)
                    VALUES ($1, $2, $7, $8, {NOW}, $9, $10, $11, $12, $13,
                            EXISTS (SELECT 1 FROM held WHERE key = {KPI_KEY}), $14)
                    ON CONFLICT (server_id, node) DO UPDATE SET
                        instance = excluded.instance, role = excluded.role,
                        heartbeat_at = excluded.heartbeat_at, started_at = excluded.started_at,
                        host = excluded.host, pid = excluded.pid, version = excluded.version,
                        ami_connected = excluded.ami_connected, kpi = excluded.kpi,
                        history_lag = excluded.history_lag
                    RETURNING 1
                )
                SELECT (SELECT count(*) FROM lease) AS confirmed,
                       EXISTS (SELECT 1 FROM held WHERE key = {KPI_KEY}) AS kpi,
                       (SELECT count(*) FROM me) AS written
                """,
                info.server_id,
                info.node,
                CLASS,
                self.lock_key,
                token,
                covered_until,
                info.instance,
                role,
                started_at,
                info.host,
                info.pid,
                info.version,
                ami_connected,
                history_lag,
            )
        )
        return bool(row["confirmed"]), bool(row["kpi"])

    async def release(self, token: int | None, covered_until: float | None, *, kpi: bool) -> None:
        """Step down cleanly: the row says nobody leads (so the next leader is no takeover), then
        the locks go."""
        conn = self._conn()
        if token is not None:
            await self._bounded(
                conn.execute(
                    f"UPDATE servers SET leader = NULL, heartbeat_at = {NOW}, "
                    "covered_until = greatest(covered_until, $3::double precision) "
                    "WHERE server_id = $1 AND token = $2",
                    self.info.server_id,
                    token,
                    covered_until,
                )
            )
            if self.lock_key is not None:
                await self.unlock(self.lock_key)
        if kpi:
            await self.unlock(KPI_KEY)

    async def stopped(self) -> None:
        """This node's row says it stopped (``acd status`` shows it, not a stale heartbeat)."""
        conn = self._conn()
        await self._bounded(
            conn.execute(
                f"UPDATE nodes SET role = 'stopped', kpi = false, heartbeat_at = {NOW} "
                "WHERE server_id = $1 AND node = $2 AND instance = $3",
                self.info.server_id,
                self.info.node,
                self.info.instance,
            )
        )

    async def other_instance(self) -> tuple[str, float] | None:
        """(instance, last heartbeat) of another process using this node's name, if its row says
        it runs (None: none)."""
        conn = self._conn()
        row = await self._bounded(
            conn.fetchrow(
                "SELECT instance, heartbeat_at FROM nodes WHERE server_id = $1 AND node = $2 "
                "AND instance <> $3 AND role <> 'stopped'",
                self.info.server_id,
                self.info.node,
                self.info.instance,
            )
        )
        return None if row is None else (str(row["instance"]), float(row["heartbeat_at"]))


def node_info(server_id: str, node: str, version: str) -> NodeInfo:
    return NodeInfo(
        server_id=server_id,
        node=node,
        instance=os.urandom(8).hex(),
        host=socket.gethostname(),
        pid=os.getpid(),
        version=version,
    )
