"""A takeover while a transferred caller is still up: the new leader's resync finds, in a Queue()
bridge, a caller whose queue entry the old leader already stored as transferred (an attended
transfer leaves the caller in the Queue() it was answered in: docs/asterisk.md). The new leader's
core is fresh and knows nothing of the transfer; it adopts the caller, under the same Uniqueid.

Written through the real store on SQLite, as the daemon's two leaders would write it, and compared
with the same call stored by one leader that saw it through: the call stays one row with the old
leader's record of the transfer, and one customer call, whether the new leader's queue_log
reading can tell the gap or not: every column as one leader stores it. With queue_log read, its
merge makes the adopted entry the complete record again; without it, the adopted entry stays
partial and the stored complete rows stand (only the customer call's ``final`` is taken from it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.effects import Effect
from acd.core.gapfill import GapFill
from acd.core.queuelog import read_facts
from acd.settings import Settings
from acd.store.codec import is_stored
from acd.store.history import known_call_ids
from acd.store.migrate import prepare_database
from acd.store.schema.base import table_of
from acd.store.schema.records import Call as CallRow
from acd.store.schema.records import CustomerCallRow
from acd.store.upsert import RowUpserter
from tests.core_events import Call, Feed, member
from tests.test_core_adoption import transferred

SERVER = "asterisk"


async def write(url: str, effects: list[Effect]) -> None:
    engine = await prepare_database(Settings(database={"url": url}))  # type: ignore[arg-type, call-arg]
    try:
        await RowUpserter(engine, SERVER, "split").write([e for e in effects if is_stored(e)])  # type: ignore[misc]
    finally:
        await engine.dispose()


async def rows(engine: AsyncEngine, table: Any, **where: str) -> list[dict[str, Any]]:
    query = select(table).where(*(table.c[k] == v for k, v in where.items()))
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(query)).all()]


def ql(at: float, callid: str, agent: str, event: str, *data: object) -> str:
    return "|".join([str(int(at)), callid, "support", agent, event, *map(str, data)])


def hang_up(feed: Feed, call: Call) -> None:
    """The caller and the transfer's target hang up; the grace periods pass."""
    feed(
        call.signal("Hangup", "caller", 16),
        {**call.signal("Hangup", "caller", 16), "Uniqueid": "1.77"},
        dt=30,
    )
    feed.tick(60)


def resync_finds_caller_in_queue(feed: Feed, call: Call) -> None:
    """The caller bridged to the target in the Queue() it was answered in."""
    feed.core.begin_resync(feed.now)
    feed(
        {**member("QueueMember", "support", "PJSIP/1001", "Alice"), "Name": "Alice",
         "Location": "PJSIP/1001"},
        {"Event": "QueueStatusComplete", "EventList": "Complete"},
        call.base("CoreShowChannel", Application="Queue", ApplicationData="support,t,,,300",
                  Duration="00:00:26", BridgeId="b-target"),
        {"Event": "CoreShowChannel", "Channel": "PJSIP/2001-00000077", "Uniqueid": "1.77",
         "Linkedid": call.linkedid, "Application": "AppDial", "ApplicationData": "(Outgoing Line)",
         "Duration": "00:00:05", "BridgeId": "b-target"},
        {"Event": "CoreShowChannelsComplete", "EventList": "Complete"},
    )  # fmt: skip
    feed.effects.extend(feed.core.end_resync(feed.now))


async def stored(url: str, call: Call) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The call's rows and its customer call's, without what differs by when they were written."""
    engine = await prepare_database(Settings(database={"url": url}))  # type: ignore[arg-type, call-arg]
    try:
        calls = await rows(engine, table_of(CallRow), uniqueid=call.uid)
        customers = await rows(engine, table_of(CustomerCallRow), linkedid=call.linkedid)
    finally:
        await engine.dispose()
    for row in calls + customers:
        row.pop("id", None)
        row.pop("updated_at", None)
    return calls, customers


async def alone_and_taken_over(tmp_path: Path, call: Call, queue_log: str) -> tuple[str, str]:
    """The same call stored by one leader that saw it through (the first database), and by two:
    the old leader until the transfer, a new one from a takeover right after it (the second)."""
    alone, taken_over = (f"sqlite+aiosqlite:///{tmp_path / name}" for name in ("alone.db", "ha.db"))
    one = Feed()
    transferred(one, call, "attended")
    hang_up(one, call)
    await write(alone, one.effects)

    old = Feed()
    transferred(old, call, "attended")
    (record,) = old.records()
    await write(taken_over, old.effects)
    # The old leader is gone; the new one builds a fresh core, as the daemon's takeover does: its
    # gap starts where the old leader's records stop, and it knows which calls those hold.
    new = Feed(now=old.now + 2)
    new.core.gapfill = GapFill(lookback=3600)
    new.core.gap_started, new.core.gap_reason = old.now, "takeover"
    engine = await prepare_database(Settings(database={"url": taken_over}))  # type: ignore[arg-type, call-arg]
    try:
        new.core.gapfill.remember(await known_call_ids(engine, SERVER, old.now - 3600))
    finally:
        await engine.dispose()
    new(member("QueueMemberAdded", "support", "PJSIP/1001", "Alice"))
    resync_finds_caller_in_queue(new, call)
    assert record.answered_at is not None
    hold, talk = int(record.wait_seconds or 0), int(record.talk_seconds or 0)
    lines = [  # what Asterisk's queue_log holds for the call
        ql(record.joined_at, call.uid, "NONE", "ENTERQUEUE", "", call.number, 1),
        ql(record.answered_at, call.uid, "Alice", "CONNECT", hold, call.agent_uid, 1),
        ql(record.ended_at, call.uid, "Alice", "ATTENDEDTRANSFER", "BRIDGE", "b-target", hold, talk, 1),
    ]
    new.effects.extend(new.core.fill_gap(read_facts(lines) if queue_log == "read" else None, new.now))
    hang_up(new, call)
    await write(taken_over, new.effects)
    return alone, taken_over


@pytest.mark.parametrize("queue_log", ["read", "unreadable"])
async def test_a_new_leader_does_not_store_a_transferred_call_twice(tmp_path: Path, queue_log: str) -> None:
    """One row for the call and one customer call, with the old leader's record of the transfer
    (the new leader adopts the caller under the same key; a partial row never replaces a
    complete one)."""
    call = Call("1800000129.36")
    alone, taken_over = await alone_and_taken_over(tmp_path, call, queue_log)
    want_calls, want_customers = await stored(alone, call)
    got_calls, got_customers = await stored(taken_over, call)
    assert len(got_calls) == 1 and len(got_customers) == 1 and len(want_customers) == 1
    facts = ("call_id", "entry", "queue", "ended_by", "talk_seconds", "wait_seconds", "partial", "agent")
    assert {k: got_calls[0][k] for k in facts} == {k: want_calls[0][k] for k in facts}


@pytest.mark.parametrize("queue_log", ["read", "unreadable"])
async def test_a_new_leader_leaves_the_transferred_call_as_it_was(tmp_path: Path, queue_log: str) -> None:
    """Every column of the call's row and of its customer call, as one leader that saw the call
    through would store them."""
    call = Call("1800000129.36")
    alone, taken_over = await alone_and_taken_over(tmp_path, call, queue_log)
    (want,), (want_customer,) = await stored(alone, call)
    (got,), (got_customer,) = await stored(taken_over, call)
    assert _diff(got, want) == {}
    assert _diff(got_customer, want_customer) == {}


def _diff(got: dict[str, Any], want: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (got[k], want[k]) for k in want if got[k] != want[k]}
