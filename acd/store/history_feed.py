"""Caller history between acd processes on one PostgreSQL: NOTIFY on write, LISTEN on every node.

A callback may reach a node that did not record the cut-off: another server's, or this server's
next leader while the previous one's journal is still being written. Polling the database per
call would put a query on the caller's path; instead every committed call row with a caller key
is announced on the channel ``acd_history`` in the writing transaction (PostgreSQL delivers a
notification only when, and if, its transaction commits), carrying what the core's history
holds of a call (:class:`~acd.core.caller_history.PastCall`). Each daemon listens on a connection of its
own and hands what arrives to its core as a command, in order with the AMI events, so a callback
arriving a moment later is already recognised; the delay from the writer's commit to the core is
``acd_history_lag_seconds``.

A payload is at most ``MAX_PAYLOAD`` bytes (PostgreSQL's limit is 8000): a big batch is several
notifications. Notifications are not stored: after the listening connection drops, the daemon
reads again what ended since shortly before the drop. PgBouncer in transaction mode does not
carry LISTEN (nor session locks): acd needs PostgreSQL itself or a pooler in session mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg
import structlog

from acd.core.caller_history import PastCall
from acd.core.effects import CallRecord

__all__ = ["CHANNEL", "HistoryFeed", "decode", "encode"]

log = structlog.get_logger("acd.history")

CHANNEL = "acd_history"
MAX_PAYLOAD = 7500
VERSION = 1


def _entry(rec: CallRecord, chain: tuple[str, int] | None) -> list[Any]:
    return [
        rec.id,
        rec.linkedid,
        rec.caller_key,
        rec.queue,
        rec.agent,
        rec.agent_name,
        1 if rec.answered_at is not None else 0,
        1 if rec.cut_off else 0,
        rec.ended_at,
        0 if "cut_off" in rec.unknown else 1,
        chain[0] if chain is not None else None,
        chain[1] if chain is not None else 0,
        rec.joined_at,
    ]


def encode(
    records: Iterable[CallRecord],
    server: str,
    sender: str,
    sent: float,
    chains: dict[str, tuple[str, int]] | None = None,
) -> list[str]:
    """Notification payloads for the records that have a caller key (others never match);
    ``chains``: linkedid -> (callback chain, position), where the batch knew it."""
    head = {"v": VERSION, "s": server, "n": sender, "t": round(sent, 6)}
    base = len(json.dumps({**head, "c": []}, separators=(",", ":")))
    out: list[str] = []
    batch: list[list[Any]] = []
    size = base
    for rec in records:
        if rec.caller_key is None:
            continue
        entry = _entry(rec, (chains or {}).get(rec.linkedid))
        length = len(json.dumps(entry, separators=(",", ":"))) + 1
        if batch and size + length > MAX_PAYLOAD:
            out.append(json.dumps({**head, "c": batch}, separators=(",", ":")))
            batch, size = [], base
        batch.append(entry)
        size += length
    if batch:
        out.append(json.dumps({**head, "c": batch}, separators=(",", ":")))
    return out


def decode(payload: str) -> tuple[str, str, float, tuple[PastCall, ...]]:
    """(server, sender, sent, calls); ValueError for anything else."""
    data = json.loads(payload)
    if not isinstance(data, dict) or data.get("v") != VERSION:
        raise ValueError("not an acd history notification")
    calls = tuple(
        PastCall(
            id=str(c[0]),
            linkedid=str(c[1]),
            key=str(c[2]),
            queue=str(c[3]),
            agent=c[4],
            agent_name=c[5],
            answered=bool(c[6]),
            cut_off=bool(c[7]),
            ended_at=float(c[8]),
            cut_off_known=bool(c[9]),
            chain_id=c[10],
            chain_seq=int(c[11]),
            server=str(data["s"]),
            joined_at=float(c[12]) if len(c) > 12 and c[12] is not None else None,
        )
        for c in data["c"]
    )
    return str(data["s"]), str(data["n"]), float(data["t"]), calls


class HistoryFeed:
    """The listening connection of one daemon: each notification from another process becomes
    ``deliver(server, sent, calls)``; after a reconnect ``catch_up(since)`` reads what it may have
    missed (wall clock, seconds)."""

    def __init__(
        self,
        params: dict[str, Any],
        sender: str,
        *,
        deliver: Callable[[str, float, tuple[PastCall, ...]], None],
        catch_up: Callable[[float], Any],
        retry: float = 1.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.params = params
        self.sender = sender
        self.deliver = deliver
        self.catch_up = catch_up
        self.retry = retry
        self._sleep = sleep
        self.conn: asyncpg.Connection | None = None
        self.received = 0
        self.bad = 0
        self._lost_at: float | None = None
        self._closed = asyncio.Event()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            server, sender, sent, calls = decode(payload)
        except (ValueError, KeyError, IndexError, TypeError):
            self.bad += 1
            return
        if sender == self.sender:
            return  # this process's own writes: its core made them
        self.received += len(calls)
        self.deliver(server, sent, calls)

    def _on_lost(self, _conn: object) -> None:
        self._closed.set()

    async def run(self) -> None:
        """Listen until cancelled; reconnect after a drop and catch up on what it missed."""
        while True:
            try:
                conn = await asyncpg.connect(**self.params, timeout=10, statement_cache_size=0)
            except Exception as exc:
                if self._lost_at is None:
                    self._lost_at = time.time()
                log.debug("history_feed_connect_failed", error=str(exc))
                await self._sleep(self.retry)
                continue
            self.conn = conn
            self._closed.clear()
            conn.add_termination_listener(self._on_lost)
            await conn.add_listener(CHANNEL, self._on_notify)
            if self._lost_at is not None:
                since, self._lost_at = self._lost_at - 5.0, None
                log.info("history_feed_reconnected", catching_up_since=round(since, 3))
                with contextlib.suppress(Exception):
                    await self.catch_up(since)
            try:
                await self._watch(conn)
            finally:
                self.conn = None
                with contextlib.suppress(Exception):
                    conn.terminate()
            self._lost_at = time.time()
            await self._sleep(self.retry)

    async def _watch(self, conn: asyncpg.Connection) -> None:
        """Until the connection drops: a cheap query every few seconds notices a silent peer."""
        while not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._closed.wait()
                    return
            try:
                async with asyncio.timeout(5.0):
                    await conn.fetchval("SELECT 1")
            except Exception:
                return

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
