"""One batch of stored effects -> one transaction of idempotent upserts.

Keys (see acd/store/schema/): calls by (server_id, uniqueid, entry), offers by (.., seq), sessions by
(server_id, agent, queue, kind, at), gaps by (server_id, ended_at, reason), AMI outcomes by
(server_id, linkedid, written_by, written_at). Writing the same batch twice changes nothing. A call
row written as partial (acd attached mid-call) is replaced when the complete record arrives later;
a complete row is never replaced by a partial one. Offers follow their call row: written when the row
is, replaced with it, never added to a row that was not.

Customer calls (``CustomerCallUpdated``) go through acd/store/customer_calls.py in the same
transaction: their rows, their entries' ``leg_*`` columns, the links to the caller's other calls,
and the outcome summary and credit of a final one (a partial customer call, like a partial call
row, never replaces the facts of a complete one).

Fencing (several nodes of one server, acd/ha): call records, sessions, gaps and outcomes are facts,
merged by their keys, so a late write from a node that no longer leads is harmless. Routing
decisions are not: they are written only under the current fencing token, read in the same
transaction (``FOR SHARE``, so a takeover waits for the transaction or the transaction sees it);
from a node whose token is no longer current (or that does not lead) they are refused and counted.

On PostgreSQL every call row written is announced to the other acd processes in the same
transaction (``NOTIFY acd_history``, acd/store/history_feed.py): shared caller history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.core.definitions import CreditPolicy
from acd.core.effects import (
    AffinityDecided,
    CallFinished,
    CallRecord,
    CustomerCallUpdated,
    GapRecorded,
    LegFacts,
    MemberSession,
    OutcomeReported,
)
from acd.store.codec import StoredEffect, is_stored
from acd.store.customer_calls import upsert_customer_calls
from acd.store.dialect import chunks, dedupe, upsert_insert
from acd.store.history_feed import CHANNEL, encode
from acd.store.marks import collecting, note
from acd.store.outcomes import OutcomeInput, resolve_linkedid, save_outcome
from acd.store.rows import call_row, callback_link_row, decision_row, gap_row, offer_rows, session_row
from acd.store.sales import CreditRules
from acd.store.schema.base import table_of
from acd.store.schema.operation import Gap, ServerLease
from acd.store.schema.records import AgentSession, Call, CallbackLink, Offer, RoutingDecision

__all__ = ["RowUpserter"]

log = structlog.get_logger("acd.store")

CALL_KEY = ["server_id", "uniqueid", "entry"]
_CALL_UPDATABLE = [
    c.name
    for c in table_of(Call).columns
    if c.name not in {"id", *CALL_KEY}
    and not c.name.startswith(("repeat_", "leg_"))  # the purge's and the customer-call stage's
    and c.name != "purged_at"
]


class RowUpserter:
    """Writes batches to the database; the :class:`~acd.store.writer.Writer` owns retry and spool."""

    def __init__(
        self, engine: AsyncEngine, server_id: str, credit_policy: CreditPolicy, original_share: float = 0.5
    ) -> None:
        self.engine = engine
        self.server_id = server_id
        self.credit = CreditRules(credit_policy, original_share)
        # The fencing token this node writes under (None: it does not lead); unset: no fencing
        # (SQLite, one node).
        self.fence: Callable[[], int | None] | None = None
        self.fenced = 0  # decisions refused: written by a node whose token was not current
        # PostgreSQL: every call row written is announced to the other acd processes (history);
        # ``sender`` lets this process's own listener skip its own writes.
        self.sender = ""

    async def write(self, batch: Sequence[StoredEffect]) -> None:
        """All of ``batch`` in one transaction, or nothing (the exception propagates)."""
        async with self.engine.begin() as conn:
            await self._write(conn, batch)

    async def write_in(self, conn: AsyncConnection, batch: Sequence[object], *, linking: bool = True) -> None:
        """``batch`` inside the caller's transaction (``acd db backfill``: effects of other types are
        skipped; ``linking=False`` leaves next contacts and exemptions to one bulk pass afterwards)."""
        await self._write(conn, [e for e in batch if is_stored(e)], linking=linking)  # type: ignore[misc]

    async def _write(
        self, conn: AsyncConnection, batch: Sequence[StoredEffect], *, linking: bool = True
    ) -> None:
        async with collecting(conn):  # the summary rollups of the times written are stale now
            await self._write_batch(conn, batch, linking)

    async def _write_batch(self, conn: AsyncConnection, batch: Sequence[StoredEffect], linking: bool) -> None:
        sid = self.server_id
        records: dict[tuple[str, int], CallRecord] = {}
        links: list[dict[str, Any]] = []
        sessions: list[dict[str, Any]] = []
        gaps: list[dict[str, Any]] = []
        reported: list[OutcomeReported] = []
        decisions: list[dict[str, Any]] = []
        customers: dict[str, CustomerCallUpdated] = {}
        legs: dict[tuple[str, int], LegFacts] = {}
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
            elif isinstance(effect, CustomerCallUpdated):
                earlier = customers.get(effect.call.linkedid)
                if earlier is not None and earlier.call.final and not effect.call.final:
                    continue  # never step back from final
                customers[effect.call.linkedid] = effect
                for leg in effect.legs:
                    legs[(leg.uniqueid, leg.entry)] = leg
        call_rows = [call_row(rec, sid) for rec in records.values()]
        offers: list[dict[str, Any]] = []
        await note(conn, sid, [rec.joined_at for rec in records.values()])
        written: list[CallRecord] = []
        if call_rows:
            stored = await self._stored_calls(conn, [rec.uniqueid for rec in records.values()])
            # A row rewritten may move (a partial row completed with its true start): its old
            # bucket changes too.
            await note(conn, sid, [stored[key][2] for key in records if key in stored])
            replaced: list[tuple[str, int]] = []
            for key, rec in records.items():
                was = stored.get(key)
                if was is None:
                    offers.extend(offer_rows(rec, sid))
                    written.append(rec)
                elif was[:2] == (True, False) and not rec.partial:  # partial, not purged: completed now
                    replaced.append(key)
                    offers.extend(offer_rows(rec, sid))
                    written.append(rec)
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
            for chunk in chunks(call_rows):
                await conn.execute(stmt, chunk)
        await self._insert_ignore(conn, table_of(Offer), offers, ["server_id", "uniqueid", "entry", "seq"])
        await self._insert_ignore(conn, table_of(CallbackLink), links, ["server_id", "call_id"])
        await self._insert_ignore(
            conn, table_of(AgentSession), sessions, ["server_id", "agent", "queue", "kind", "at"]
        )
        await self._insert_ignore(conn, table_of(Gap), gaps, ["server_id", "ended_at", "reason"])
        if decisions and self.fence is not None and not await self._token_current(conn):
            self.fenced += len(decisions)
            log.warning("decisions_fenced", refused=len(decisions), fence=self.fence())
            decisions = []
        if decisions:
            await self._decisions(conn, decisions)
        if call_rows:
            await self._routing_for_calls(conn, sorted({row["uniqueid"] for row in call_rows}))
        if customers:
            updates = list(customers.values())
            await upsert_customer_calls(conn, sid, self.credit, updates, list(legs.values()), linking=linking)
        for outcome in reported:
            await self._outcome(conn, outcome)
        if written and conn.dialect.name == "postgresql":
            chains = {k: (u.call.chain_id, u.call.chain_seq) for k, u in customers.items()}
            await self._announce(conn, written, chains)

    async def _announce(
        self, conn: AsyncConnection, written: list[CallRecord], chains: dict[str, tuple[str, int]]
    ) -> None:
        """Tell the other processes on this database (delivered when, and if, this commits)."""
        for payload in encode(written, self.server_id, self.sender, time.time(), chains):
            await conn.execute(select(func.pg_notify(CHANNEL, payload)))

    async def _token_current(self, conn: AsyncConnection) -> bool:
        """This node's token is the server's current one (locked for the transaction)."""
        assert self.fence is not None
        token = self.fence()
        if token is None:
            return False
        servers = table_of(ServerLease)
        query = select(servers.c.token).where(servers.c.server_id == self.server_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(read=True)
        current = (await conn.execute(query)).scalar_one_or_none()
        return current is not None and int(current) == token

    async def _stored_calls(
        self, conn: AsyncConnection, uniqueids: list[str]
    ) -> dict[tuple[str, int], tuple[bool, bool, float]]:
        """(partial, purged, joined_at) of the rows already stored for these calls, by
        (uniqueid, entry)."""
        calls = table_of(Call)
        found: dict[tuple[str, int], tuple[bool, bool, float]] = {}
        for chunk in chunks(sorted(set(uniqueids))):
            result = await conn.execute(
                select(
                    calls.c.uniqueid, calls.c.entry, calls.c.partial, calls.c.purged_at, calls.c.joined_at
                ).where(calls.c.server_id == self.server_id, calls.c.uniqueid.in_(chunk))
            )
            for uniqueid, entry, partial, purged_at, joined_at in result:
                found[(uniqueid, entry)] = (bool(partial), purged_at is not None, joined_at)
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
        for chunk in chunks(dedupe(rows, ["server_id", "uniqueid"])):
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
        reason = (
            select(decided.c.reason)
            .where(decided.c.server_id == calls.c.server_id, decided.c.uniqueid == calls.c.uniqueid)
            .scalar_subquery()
        )
        for chunk in chunks(uniqueids):
            await conn.execute(
                update(calls)
                .where(
                    calls.c.server_id == self.server_id,
                    calls.c.uniqueid.in_(chunk),
                    calls.c.routing.is_(None),
                )
                .values(routing=reason)
            )

    async def _insert_ignore(
        self, conn: AsyncConnection, table: Any, rows: list[dict[str, Any]], key: list[str]
    ) -> None:
        if rows:
            stmt = upsert_insert(conn, table).on_conflict_do_nothing(index_elements=key)
            for chunk in chunks(dedupe(rows, key)):
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
            order_ref=effect.order_ref,
            order_status=effect.order_status,
            order_left=effect.order_left,
        )
        await save_outcome(conn, self.server_id, self.credit, data)
