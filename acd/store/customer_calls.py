"""Customer calls (``CustomerCallUpdated``) into their rows, and the links between a caller's calls.

Why apart from the batch's other rows (acd/store/upsert.py): a customer call is not only a row
written by its key. Its entries' ``leg_*`` columns follow it; writing it links it to the caller's
other calls; and once it is final with outcomes, its outcome summary and its chain's credit are
settled. The other rows of a batch are facts merged by their keys and nothing more.

The rows are upserted by (server_id, linkedid) with the stage's columns; a final row is never
stepped back by an older version, a purged row never gets personal data back, and a partial
version whose every entry is stored complete (a takeover's new leader adopting, unconfirmed, a
caller the old leader recorded) keeps the stored row's facts and legs: it adds only that the call
is final. The links are set in both directions so the order of writes does not matter: the
earlier calls of the same caller key whose next contact this call is get
``next_contact_at``/``next_contact_call``; once it is final, its own next contact is looked up; a
callback makes the cut-off it calls back ``repeat_exempt`` when the rep did not cause that
cut-off (acd/core/definitions.py). These links cross servers (a
caller's next contact, or callback, may come through another server sharing the database): each
server's Asterisk ``systemname`` keeps the ids apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields, replace
from typing import Any

from sqlalchemy import bindparam, case, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.core.definitions import EXEMPT_ENDED_BY, WINDOWS
from acd.core.effects import CustomerCall, CustomerCallUpdated, LegFacts
from acd.store.dialect import chunks, upsert_insert
from acd.store.marks import note
from acd.store.rows import customer_call_row, leg_row, reasons_from_text
from acd.store.sales import CreditRules, refresh_outcome_summary, settle_chain_credit
from acd.store.schema.base import table_of
from acd.store.schema.outcomes import Outcome
from acd.store.schema.records import Call, CustomerCallRow

__all__ = ["link_contacts", "upsert_customer_calls"]

_PERSONAL = ("caller_num", "caller_name", "caller_key", "account")  # erased by a purge, for good
_STORE_OWN = {  # customer_calls columns the store sets itself, never the stage's upsert
    "id", "server_id", "linkedid", "next_contact_at", "next_contact_call", "repeat_exempt",
    "disposition", "resolved", "notes_state", "outcome_at", "purged_at",
}  # fmt: skip
_CUSTOMER_OWN = [c.name for c in table_of(CustomerCallRow).columns if c.name not in _STORE_OWN]
# The stage's facts a stored complete row keeps over a partial version (not its liveness).
_STAGE_FIELDS = [
    f.name for f in fields(CustomerCall) if f.name in _CUSTOMER_OWN and f.name not in {"live", "final"}
]


async def upsert_customer_calls(
    conn: AsyncConnection,
    server_id: str,
    credit: CreditRules,
    updates: list[CustomerCallUpdated],
    legs: list[LegFacts],
    *,
    linking: bool = True,
) -> None:
    """``updates`` (one per customer call) and their entries' ``legs`` in the caller's transaction;
    ``linking=False`` leaves next contacts and exemptions to one bulk pass afterwards (``acd db
    backfill``)."""
    sid = server_id
    rows, stood = await _complete_stands(conn, sid, updates)
    legs = [leg for leg in legs if (leg.uniqueid, leg.entry) not in stood]
    table = table_of(CustomerCallRow)
    stmt = upsert_insert(conn, table)
    set_: dict[str, Any] = {name: stmt.excluded[name] for name in _CUSTOMER_OWN}
    for name in _PERSONAL:
        set_[name] = case((table.c.purged_at.is_(None), stmt.excluded[name]), else_=table.c[name])
    set_["keyed"] = table.c.keyed | stmt.excluded.keyed
    # A final row is never stepped back by an older version replayed after it.
    stmt = stmt.on_conflict_do_update(
        index_elements=["server_id", "linkedid"], set_=set_, where=~table.c.final | stmt.excluded.final
    )
    await _note_stored(conn, sid, [row.linkedid for row in rows], legs)
    await note(conn, sid, [t for row in rows for t in (row.joined_at, row.ended_at)])
    for chunk in chunks([customer_call_row(row, sid) for row in rows]):
        await conn.execute(stmt, chunk)
    await _note_origins(conn, table, rows)
    if legs:
        for leg_chunk in chunks([leg_row(leg, sid) for leg in legs]):
            await conn.execute(_SET_LEG, leg_chunk)
    if linking:
        await link_contacts(conn, sid, rows)
    final = sorted({row.linkedid for row in rows if row.final})
    outcomes = table_of(Outcome)
    for ids in chunks(final):
        noted = set(
            (
                await conn.execute(
                    select(outcomes.c.linkedid)
                    .where(outcomes.c.server_id == sid, outcomes.c.linkedid.in_(ids))
                    .distinct()
                )
            )
            .scalars()
            .all()
        )
        if noted:
            await refresh_outcome_summary(conn, sid, noted)
            for chain_id in sorted({row.chain_id for row in rows if row.linkedid in noted}):
                await settle_chain_credit(conn, sid, chain_id, credit)


async def _complete_stands(
    conn: AsyncConnection, sid: str, updates: list[CustomerCallUpdated]
) -> tuple[list[CustomerCall], set[tuple[str, int]]]:
    """The rows to write, and the entries whose ``leg_*`` columns stay as stored.

    A partial customer call whose every leg is an entry already stored complete (a new leader
    adopted, under the same key, a caller the old one had recorded in full, and nothing confirmed
    the adoption) knows nothing the stored row does not: its unknowns are unknown, not
    corrections. The stored complete row stands, with its legs; only whether the call is still
    live, and that it is final, are taken from it (the same rule as for call rows: a complete row
    is never replaced by a partial one)."""
    candidates = {u.call.linkedid: u for u in updates if u.call.partial and u.legs}
    if not candidates:
        return [u.call for u in updates], set()
    calls, table = table_of(Call), table_of(CustomerCallRow)
    keys = {(leg.uniqueid, leg.entry) for u in candidates.values() for leg in u.legs}
    complete: set[tuple[str, int]] = set()
    for uids in chunks(sorted({uid for uid, _ in keys})):
        found = await conn.execute(
            select(calls.c.uniqueid, calls.c.entry).where(
                calls.c.server_id == sid, calls.c.uniqueid.in_(uids), ~calls.c.partial
            )
        )
        complete.update((uid, entry) for uid, entry in found)
    candidates = {
        k: u for k, u in candidates.items() if all((leg.uniqueid, leg.entry) in complete for leg in u.legs)
    }
    stored: dict[str, Any] = {}
    for ids in chunks(sorted(candidates)):
        found = await conn.execute(
            select(table).where(table.c.server_id == sid, table.c.linkedid.in_(ids), ~table.c.partial)
        )
        stored.update((row.linkedid, row) for row in found)
    rows: list[CustomerCall] = []
    stood: set[tuple[str, int]] = set()
    for u in updates:
        was = stored.get(u.call.linkedid)
        if was is None or u.call.linkedid not in candidates:
            rows.append(u.call)
            continue
        facts = {name: getattr(was, name) for name in _STAGE_FIELDS}
        facts["cut_off_reasons"] = reasons_from_text(facts["cut_off_reasons"])
        rows.append(replace(u.call, **facts, final=u.call.final or bool(was.final)))
        stood.update((leg.uniqueid, leg.entry) for leg in u.legs)
    return rows, stood


async def link_contacts(conn: AsyncConnection, server_id: str, rows: list[CustomerCall]) -> None:
    """Next contacts and repeat exemption (module docstring): set by whichever call is written
    second, so a replay or an import out of order links the same calls. The batch's caller
    keys are read in one query, the links worked out here, and rows updated by primary key:
    no statement depends on the planner finding the right index for a fresh table."""
    sid = server_id
    table = table_of(CustomerCallRow)
    keys = sorted({r.caller_key for r in rows if r.caller_key is not None})
    if keys:
        floor = min(r.joined_at for r in rows) - max(WINDOWS.values()) - 86400.0
        known: dict[str, list[Any]] = defaultdict(list)
        for chunk in chunks(keys):
            for c in await conn.execute(
                select(
                    table.c.id,
                    table.c.linkedid,
                    table.c.caller_key,
                    table.c.joined_at,
                    table.c.ended_at,
                    table.c.next_contact_at,
                    table.c.next_contact_call,
                    table.c.server_id,
                ).where(table.c.caller_key.in_(chunk), table.c.joined_at >= floor)  # every server's
            ):
                known[c.caller_key].append(c)
        changes = []
        for calls in known.values():
            calls.sort(key=lambda c: c.joined_at)
            for c in calls:
                if c.ended_at is None:
                    continue
                nxt = next((o for o in calls if o.joined_at > c.ended_at and o.linkedid != c.linkedid), None)
                if nxt is None or (c.next_contact_at is not None and c.next_contact_at <= nxt.joined_at):
                    continue  # nothing came after it, or what it has is as early
                changes.append({"b_id": c.id, "b_at": nxt.joined_at, "b_call": nxt.linkedid})
                await note(conn, c.server_id, [c.ended_at])  # the row's server's summary
        if changes:
            await conn.execute(_SET_NEXT_CONTACT, changes)
    called_back = sorted({r.callback_of for r in rows if r.callback_of})
    cut = sorted({r.linkedid for r in rows if r.final and r.cut_off and r.ended_by in EXEMPT_ENDED_BY})
    exempt: dict[int, tuple[str, float | None]] = {}
    for chunk in chunks(called_back):
        found = await conn.execute(
            select(table.c.id, table.c.ended_at, table.c.server_id).where(
                table.c.linkedid.in_(chunk),  # a cut-off on another server, called back here
                table.c.cut_off == true(),
                table.c.ended_by.in_(EXEMPT_ENDED_BY),
            )
        )
        exempt.update({row[0]: (row[2], row[1]) for row in found})
    for chunk in chunks(cut):
        back = table.alias("back")
        found = await conn.execute(
            select(table.c.id, table.c.ended_at)
            .select_from(
                table.join(
                    back,
                    back.c.callback_of == table.c.linkedid,  # the callback may be another server's
                )
            )
            .where(table.c.server_id == sid, table.c.linkedid.in_(chunk))
        )
        exempt.update({row[0]: (sid, row[1]) for row in found})
    if exempt:
        await conn.execute(_SET_EXEMPT, [{"b_id": i} for i in sorted(exempt)])
        for server in sorted({where for where, _ in exempt.values()}):
            await note(conn, server, [at for where, at in exempt.values() if where == server])


async def _note_stored(conn: AsyncConnection, sid: str, linkedids: list[str], legs: list[LegFacts]) -> None:
    """The summary rollups of where these customer calls and leg rows lie now are stale (read
    before an upsert: a row it moves changes its old bucket too)."""
    table, calls = table_of(CustomerCallRow), table_of(Call)
    for chunk in chunks(sorted(set(linkedids))):
        found = await conn.execute(
            select(table.c.joined_at, table.c.ended_at).where(
                table.c.server_id == sid, table.c.linkedid.in_(chunk)
            )
        )
        await note(conn, sid, [t for row in found for t in row])
    for uids in chunks(sorted({leg.uniqueid for leg in legs})):
        found = await conn.execute(
            select(calls.c.joined_at).where(calls.c.server_id == sid, calls.c.uniqueid.in_(uids))
        )
        await note(conn, sid, found.scalars())


async def _note_origins(conn: AsyncConnection, table: Any, rows: list[CustomerCall]) -> None:
    """A continuation changes how its origin's row counts (acd/core/origin.py): the origin
    server's buckets holding that row are noted, so their rollups are built again."""
    for row in rows:
        if row.origin_server is None or row.origin_linkedid is None:
            continue
        found = (
            await conn.execute(
                select(table.c.joined_at, table.c.ended_at).where(
                    table.c.server_id == row.origin_server, table.c.linkedid == row.origin_linkedid
                )
            )
        ).first()
        if found is not None:
            await note(conn, row.origin_server, [found.joined_at, found.ended_at])


_SET_LEG = (
    update(table_of(Call))
    .where(
        table_of(Call).c.server_id == bindparam("b_server_id"),
        table_of(Call).c.uniqueid == bindparam("b_uniqueid"),
        table_of(Call).c.entry == bindparam("b_entry"),
    )
    .values(
        leg_queue=bindparam("leg_queue"),
        leg_counted=bindparam("leg_counted"),
        leg_wait=bindparam("leg_wait"),
        leg_closing=bindparam("leg_closing"),
    )
)
_SET_NEXT_CONTACT = (
    update(table_of(CustomerCallRow))
    .where(table_of(CustomerCallRow).c.id == bindparam("b_id"))
    .values(next_contact_at=bindparam("b_at"), next_contact_call=bindparam("b_call"))
)
_SET_EXEMPT = (
    update(table_of(CustomerCallRow))
    .where(table_of(CustomerCallRow).c.id == bindparam("b_id"))
    .values(repeat_exempt=True)
)
