"""One batch of stored effects -> one transaction of idempotent upserts.

Keys (see models): calls by (server_id, uniqueid, entry), offers by (.., seq), sessions by
(server_id, agent, queue, kind, at), gaps by (server_id, ended_at, reason), AMI outcomes by
(server_id, linkedid, written_by, written_at). Writing the same batch twice changes nothing. A call
row written as partial (acd attached mid-call) is replaced when the complete record arrives later;
a complete row is never replaced by a partial one. Offers follow their call row: written when the row
is, replaced with it, never added to a row that was not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.core.effects import (
    AffinityDecided,
    CallFinished,
    CallRecord,
    GapRecorded,
    MemberSession,
    OutcomeReported,
)
from acd.store.codec import StoredEffect
from acd.store.dialect import upsert_insert
from acd.store.models import AgentSession, Call, CallbackLink, Gap, Offer, RoutingDecision, table_of
from acd.store.outcomes import OutcomeInput, resolve_linkedid, save_outcome
from acd.store.rows import call_row, callback_link_row, decision_row, gap_row, offer_rows, session_row

__all__ = ["Store"]

CALL_KEY = ["server_id", "uniqueid", "entry"]
CHUNK = 100
T = TypeVar("T")
_CALL_UPDATABLE = [
    c.name
    for c in table_of(Call).columns
    if c.name not in {"id", *CALL_KEY} and not c.name.startswith("repeat_") and c.name != "purged_at"
]


class Store:
    """Writes batches to the database; the :class:`~acd.store.writer.Writer` owns retry and spool."""

    def __init__(
        self, engine: AsyncEngine, server_id: str, credit_policy: Literal["original", "closer", "split"]
    ) -> None:
        self.engine = engine
        self.server_id = server_id
        self.credit_policy: Literal["original", "closer", "split"] = credit_policy

    async def write(self, batch: Sequence[StoredEffect]) -> None:
        """All of ``batch`` in one transaction, or nothing (the exception propagates)."""
        async with self.engine.begin() as conn:
            await self._write(conn, batch)

    async def _write(self, conn: AsyncConnection, batch: Sequence[StoredEffect]) -> None:
        sid = self.server_id
        records: dict[tuple[str, int], CallRecord] = {}
        links: list[dict[str, Any]] = []
        sessions: list[dict[str, Any]] = []
        gaps: list[dict[str, Any]] = []
        reported: list[OutcomeReported] = []
        decisions: list[dict[str, Any]] = []
        for effect in batch:
            if isinstance(effect, CallFinished):
                rec = effect.record
                key = (rec.uniqueid, rec.entry)
                old = records.get(key)
                if old is None or old.partial or not rec.partial:  # the last; complete beats partial
                    records[key] = rec
                link = callback_link_row(rec, sid)
                if link is not None:
                    links.append(link)
            elif isinstance(effect, MemberSession):
                sessions.append(session_row(effect, sid))
            elif isinstance(effect, GapRecorded):
                gaps.append(gap_row(effect, sid))
            elif isinstance(effect, OutcomeReported):
                reported.append(effect)
            elif isinstance(effect, AffinityDecided):
                decisions.append(decision_row(effect, sid))
        call_rows = [call_row(rec, sid) for rec in records.values()]
        offers: list[dict[str, Any]] = []
        if call_rows:
            stored = await self._stored_calls(conn, [rec.uniqueid for rec in records.values()])
            replaced: list[tuple[str, int]] = []
            for key, rec in records.items():
                was = stored.get(key)
                if was is None:
                    offers.extend(offer_rows(rec, sid))
                elif was == (True, False) and not rec.partial:  # partial, not purged: completed now
                    replaced.append(key)
                    offers.extend(offer_rows(rec, sid))
            await self._delete_offers(conn, replaced)
            stmt = upsert_insert(conn, table_of(Call))
            stmt = stmt.on_conflict_do_update(
                index_elements=CALL_KEY,
                set_={name: stmt.excluded[name] for name in _CALL_UPDATABLE},
                # a partial row is completed once; a purged row never gets personal data back
                where=table_of(Call).c.partial
                & ~stmt.excluded.partial
                & table_of(Call).c.purged_at.is_(None),
            )
            for chunk in _chunks(call_rows):
                await conn.execute(stmt, chunk)
        await self._insert_ignore(conn, table_of(Offer), offers, ["server_id", "uniqueid", "entry", "seq"])
        await self._insert_ignore(conn, table_of(CallbackLink), links, ["server_id", "call_id"])
        await self._insert_ignore(
            conn, table_of(AgentSession), sessions, ["server_id", "agent", "queue", "kind", "at"]
        )
        await self._insert_ignore(conn, table_of(Gap), gaps, ["server_id", "ended_at", "reason"])
        if decisions:
            await self._decisions(conn, decisions)
        if call_rows:
            await self._routing_for_calls(conn, sorted({row["uniqueid"] for row in call_rows}))
        for outcome in reported:
            await self._outcome(conn, outcome)

    async def _stored_calls(
        self, conn: AsyncConnection, uniqueids: list[str]
    ) -> dict[tuple[str, int], tuple[bool, bool]]:
        """(partial, purged) of the rows already stored for these calls, by (uniqueid, entry)."""
        calls = table_of(Call)
        found: dict[tuple[str, int], tuple[bool, bool]] = {}
        for chunk in _chunks(sorted(set(uniqueids))):
            result = await conn.execute(
                select(calls.c.uniqueid, calls.c.entry, calls.c.partial, calls.c.purged_at).where(
                    calls.c.server_id == self.server_id, calls.c.uniqueid.in_(chunk)
                )
            )
            for uniqueid, entry, partial, purged_at in result:
                found[(uniqueid, entry)] = (bool(partial), purged_at is not None)
        return found

    async def _delete_offers(self, conn: AsyncConnection, keys: list[tuple[str, int]]) -> None:
        offers = table_of(Offer)
        for uniqueid, entry in keys:
            await conn.execute(
                delete(offers).where(
                    offers.c.server_id == self.server_id,
                    offers.c.uniqueid == uniqueid,
                    offers.c.entry == entry,
                )
            )

    async def _decisions(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        table = table_of(RoutingDecision)
        stmt = upsert_insert(conn, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["server_id", "uniqueid"],
            set_={
                c.name: stmt.excluded[c.name]
                for c in table.columns
                if c.name not in ("id", "server_id", "uniqueid")
            },
        )
        for chunk in _chunks(_dedupe(rows, ["server_id", "uniqueid"])):
            await conn.execute(stmt, chunk)
        calls = table_of(Call)
        for row in rows:  # calls already written: give them their routing reason now
            await conn.execute(
                update(calls)
                .where(calls.c.server_id == row["server_id"], calls.c.uniqueid == row["uniqueid"])
                .values(routing=row["reason"])
            )

    async def _routing_for_calls(self, conn: AsyncConnection, uniqueids: list[str]) -> None:
        """Calls whose decision was written before them take its reason."""
        calls, decided = table_of(Call), table_of(RoutingDecision)
        for i in range(0, len(uniqueids), CHUNK):
            reason = (
                select(decided.c.reason)
                .where(decided.c.server_id == calls.c.server_id, decided.c.uniqueid == calls.c.uniqueid)
                .scalar_subquery()
            )
            await conn.execute(
                update(calls)
                .where(
                    calls.c.server_id == self.server_id,
                    calls.c.uniqueid.in_(uniqueids[i : i + CHUNK]),
                    calls.c.routing.is_(None),
                )
                .values(routing=reason)
            )

    async def _insert_ignore(
        self, conn: AsyncConnection, table: Any, rows: list[dict[str, Any]], key: list[str]
    ) -> None:
        if rows:
            stmt = upsert_insert(conn, table).on_conflict_do_nothing(index_elements=key)
            for chunk in _chunks(_dedupe(rows, key)):
                await conn.execute(stmt, chunk)

    async def _outcome(self, conn: AsyncConnection, effect: OutcomeReported) -> None:
        ident = effect.call_uniqueid or effect.linkedid
        if ident is None:
            return  # nothing names the call: the core reports such events as anomalies
        linkedid = await resolve_linkedid(conn, self.server_id, ident)
        if linkedid is None and effect.linkedid is not None:
            linkedid = effect.linkedid
        if linkedid is None:
            linkedid = ident
        data = OutcomeInput(
            linkedid=linkedid,
            call_id=effect.call_uniqueid,
            agent=effect.agent,
            disposition=effect.disposition,
            resolved=effect.resolved,
            notes=effect.notes,
            points=effect.points,
            written_by=effect.agent or "dialplan",
            written_at=effect.at,
            source="ami",
        )
        await save_outcome(conn, self.server_id, self.credit_policy, data)


def _dedupe(rows: list[dict[str, Any]], key: list[str]) -> list[dict[str, Any]]:
    """PostgreSQL refuses one statement that touches the same key twice: keep the last row per key."""
    return list({tuple(row[name] for name in key): row for row in rows}.values())


def _chunks(rows: list[T]) -> list[list[T]]:
    """Statements of at most CHUNK rows: SQLAlchemy builds each statement in the event loop's
    thread, so a big batch goes in pieces with the loop free in between (same transaction)."""
    return [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
