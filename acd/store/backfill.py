"""``acd db backfill``: customer calls for the entry rows written before acd recorded them.

Rows an older acd wrote have no customer call and no ``leg_*`` columns (reads fall back to each
entry as its own leg and leave such calls out of customer-call numbers until they are filled).
The backfill runs the very stage the daemon runs (acd/core/customer.py) over the stored entries,
in arrival order, a batch at a time, each batch in one transaction, and writes what it emits with
the daemon's store. It is resumable: the unfilled rows (``leg_counted IS NULL``) are its cursor,
so an interrupted run picks up where it stopped and a finished one finds nothing to do. Linking
each call to the caller's next contact and the repeat exemption is done in bulk at the end (the
daemon does it call by call). Calls purged before the backfill keep their frozen repeat flags as
a next contact at the window's edge, so their numbers do not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, case, exists, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.core.config import CoreConfig
from acd.core.customer import CustomerCalls
from acd.core.definitions import EXEMPT_ENDED_BY, WINDOWS, is_personal_queue
from acd.core.effects import AffinityDecided, CallFinished, CallRecord, Effect
from acd.store.history import named_past_calls
from acd.store.marks import note, note_span
from acd.store.rows import reasons_from_text
from acd.store.schema.records import calls, customer_calls, decisions, sessions
from acd.store.upsert import RowUpserter

__all__ = ["BackfillResult", "backfill", "link_all", "unfilled_count"]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class BackfillResult:
    entries: int  # entry rows filled
    customer_calls: int
    remaining: int  # unfilled rows left (0 after a complete run)


async def unfilled_count(conn: AsyncConnection, server_id: str | None = None) -> int:
    query = select(func.count()).select_from(calls).where(calls.c.leg_counted.is_(None))
    if server_id is not None:
        query = query.where(calls.c.server_id == server_id)
    return int((await conn.execute(query)).scalar_one())


def _record(r: Row[Any]) -> CallRecord:
    m = r._mapping
    return CallRecord(
        id=m["call_id"],
        uniqueid=m["uniqueid"],
        entry=m["entry"],
        linkedid=m["linkedid"],
        queue=m["queue"],
        caller_num=m["caller_num"],
        caller_name=m["caller_name"],
        caller_key=m["caller_key"],
        joined_at=m["joined_at"],
        ended_at=m["ended_at"],
        outcome=m["outcome"],
        exit_reason=m["exit_reason"],
        agent=m["agent"],
        agent_name=m["agent_name"],
        answered_at=m["answered_at"],
        wait_seconds=m["wait_seconds"],
        talk_seconds=m["talk_seconds"],
        ended_by=m["ended_by"],
        cause=m["cause"],
        caller_cause=m["caller_cause"],
        agent_cause=m["agent_cause"],
        cut_off=bool(m["cut_off"]),
        cut_off_reasons=reasons_from_text(m["cut_off_reasons"]),
        # Older acd flagged cut-offs as short releases too; a cut-off never is one.
        agent_released_short=bool(m["agent_released_short"]) and not bool(m["cut_off"]),
        transfer_target=m["transfer_target"],
        callback_of=m["callback_of"],
        repeat_of=m["repeat_of"],
        partial=bool(m["partial"]),
        position=m["position"],
        account=m["account"],
    )


async def _batch(
    engine: AsyncEngine, store: RowUpserter, config: CoreConfig, server_id: str, size: int
) -> tuple[int, int]:
    """Fill the next ``size`` unfilled entries (and their customer calls' other entries)."""
    async with engine.begin() as conn:
        first = (
            (
                await conn.execute(
                    select(calls.c.linkedid)
                    .where(calls.c.server_id == server_id, calls.c.leg_counted.is_(None))
                    .order_by(calls.c.joined_at, calls.c.id)
                    .limit(size)
                )
            )
            .scalars()
            .all()
        )
        linkedids = sorted(set(first))
        if not linkedids:
            return 0, 0
        rows: list[Row[Any]] = []
        for i in range(0, len(linkedids), _CHUNK):
            rows.extend(
                await conn.execute(
                    select(calls).where(
                        calls.c.server_id == server_id, calls.c.linkedid.in_(linkedids[i : i + _CHUNK])
                    )
                )
            )
        records = sorted((_record(r) for r in rows), key=lambda r: (r.joined_at, r.entry))
        named = sorted(
            {n for r in records for n in (r.callback_of, r.repeat_of) if n} - {r.id for r in records}
        )
        homes = await _home_queues(
            conn, server_id, sorted({r.queue for r in records if is_personal_queue(r.queue)})
        )
        stage = CustomerCalls(config, channels_live=lambda _: True, home_queue=homes.get)
        stage.remember(await named_past_calls(conn, server_id, named))
        uniqueids = sorted({r.uniqueid for r in records})
        routed: list[AffinityDecided] = []
        for i in range(0, len(uniqueids), _CHUNK):
            for d in await conn.execute(
                select(decisions).where(
                    decisions.c.server_id == server_id, decisions.c.uniqueid.in_(uniqueids[i : i + _CHUNK])
                )
            ):
                routed.append(
                    AffinityDecided(
                        d.uniqueid, d.linkedid, (), d.queue, d.action, d.reason, d.shadow, d.agent,
                        d.agent_name, d.callback_of, d.detail or "", d.decided_at, d.at,
                    )
                )  # fmt: skip
        out: list[Effect] = []
        now = 0.0
        for rec in records:
            now = max(now, rec.ended_at)
            out.extend(stage.observe([CallFinished(rec)], rec.ended_at))
        out.extend(stage.observe(routed, now))
        out.extend(stage.channels_gone(list(stage.open), now))
        await store.write_in(conn, [e for e in out if not isinstance(e, CallFinished)], linking=False)
        purged = [r.linkedid for r in records if r.caller_key is None and r.account is None]
        await _frozen(conn, server_id, sorted(set(purged)))
    return len(records), len(linkedids)


async def _home_queues(conn: AsyncConnection, server_id: str, personal: list[str]) -> dict[str, str]:
    """Each personal queue's agent's shared queue, from their recorded logins (the engine's rule:
    the first of the agent's shared queues)."""
    homes: dict[str, str] = {}
    for queue in personal:
        owner = (
            await conn.execute(
                select(sessions.c.agent)
                .where(sessions.c.server_id == server_id, sessions.c.queue == queue)
                .limit(1)
            )
        ).scalar_one_or_none()
        if owner is None:
            continue
        shared = sorted(
            q
            for q in (
                await conn.execute(
                    select(sessions.c.queue)
                    .where(sessions.c.server_id == server_id, sessions.c.agent == owner)
                    .distinct()
                )
            ).scalars()
            if not is_personal_queue(q)
        )
        if shared:
            homes[queue] = shared[0]
    return homes


async def _frozen(conn: AsyncConnection, server_id: str, linkedids: list[str]) -> None:
    """Calls purged before this schema: their frozen repeat flags become a next contact at the edge
    of the shortest window that saw a repeat (what the flags can tell)."""
    for i in range(0, len(linkedids), _CHUNK):
        chunk = linkedids[i : i + _CHUNK]
        frozen = await conn.execute(
            select(
                calls.c.linkedid,
                func.max(calls.c.purged_at).label("purged_at"),
                func.max(calls.c.ended_at).label("ended_at"),
                func.max(case((calls.c.repeat_24h == true(), 1), else_=0)).label("r24"),
                func.max(case((calls.c.repeat_7d == true(), 1), else_=0)).label("r7"),
                func.max(case((calls.c.repeat_30d == true(), 1), else_=0)).label("r30"),
            )
            .where(
                calls.c.server_id == server_id,
                calls.c.linkedid.in_(chunk),
                calls.c.repeat_frozen == true(),
            )
            .group_by(calls.c.linkedid)
        )
        for f in frozen:
            edge = None
            for flag, window in ((f.r24, "24h"), (f.r7, "7d"), (f.r30, "30d")):
                if flag:
                    edge = f.ended_at + WINDOWS[window]
                    break
            await conn.execute(
                update(customer_calls)
                .where(customer_calls.c.server_id == server_id, customer_calls.c.linkedid == f.linkedid)
                .values(keyed=True, purged_at=f.purged_at, next_contact_at=edge)
            )
            await note(conn, server_id, [f.ended_at])


async def link_all(conn: AsyncConnection, server_id: str) -> None:
    """Next contacts and exemptions for every customer call still without them (one statement each)."""
    span = (
        await conn.execute(
            select(func.min(customer_calls.c.joined_at), func.max(customer_calls.c.ended_at)).where(
                customer_calls.c.server_id == server_id
            )
        )
    ).one()
    if span[0] is not None:
        await note_span(conn, server_id, span[0], span[1] if span[1] is not None else span[0])
    later = customer_calls.alias("later")
    following = (
        select(func.min(later.c.joined_at))
        .where(
            later.c.server_id == customer_calls.c.server_id,
            later.c.caller_key == customer_calls.c.caller_key,
            later.c.linkedid != customer_calls.c.linkedid,
            later.c.joined_at > customer_calls.c.ended_at,
        )
        .scalar_subquery()
    )
    which = (
        select(later.c.linkedid)
        .where(
            later.c.server_id == customer_calls.c.server_id,
            later.c.caller_key == customer_calls.c.caller_key,
            later.c.linkedid != customer_calls.c.linkedid,
            later.c.joined_at > customer_calls.c.ended_at,
        )
        .order_by(later.c.joined_at)
        .limit(1)
        .scalar_subquery()
    )
    unlinked = and_(
        customer_calls.c.server_id == server_id,
        customer_calls.c.caller_key.is_not(None),
        customer_calls.c.ended_at.is_not(None),
        customer_calls.c.next_contact_at.is_(None),
    )
    await conn.execute(
        update(customer_calls).where(unlinked).values(next_contact_at=following, next_contact_call=which)
    )
    back = customer_calls.alias("back")
    await conn.execute(
        update(customer_calls)
        .where(
            customer_calls.c.server_id == server_id,
            customer_calls.c.cut_off == true(),
            customer_calls.c.ended_by.in_(EXEMPT_ENDED_BY),
            or_(customer_calls.c.repeat_exempt.is_(None), customer_calls.c.repeat_exempt != true()),
            exists().where(back.c.server_id == server_id, back.c.callback_of == customer_calls.c.linkedid),
        )
        .values(repeat_exempt=True)
    )


async def backfill(
    engine: AsyncEngine,
    config: CoreConfig,
    store_for: Callable[[str], RowUpserter],
    *,
    batch: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillResult:
    """Fill every server's unfilled rows; ``progress(done, total)`` after each batch."""
    async with engine.connect() as conn:
        servers = (
            (await conn.execute(select(calls.c.server_id).where(calls.c.leg_counted.is_(None)).distinct()))
            .scalars()
            .all()
        )
        total = await unfilled_count(conn)
    done = made = 0
    for server_id in sorted(servers):
        store = store_for(server_id)
        while True:
            entries, customers = await _batch(engine, store, config, server_id, batch)
            if not entries:
                break
            done += entries
            made += customers
            if progress is not None:
                progress(done, total)
        async with engine.begin() as conn:
            await link_all(conn, server_id)
    async with engine.connect() as conn:
        remaining = await unfilled_count(conn)
    return BackfillResult(done, made, remaining)
