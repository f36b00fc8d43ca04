"""The history notification between daemons: what one writes, another's core can route and chain on."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from acd.core.effects import CustomerCallUpdated
from acd.store.history_feed import MAX_PAYLOAD, decode, encode
from tests.core_events import Call, Feed, answered_call, member
from tests.store_records import record


def test_a_call_and_its_callback_chain_survive_the_round_trip() -> None:
    rec = replace(record("a.7", cut_off=True, caller_key="tel:5554444"), linkedid="a.7")
    (payload,) = encode([rec], "A", "node-1", 1000.5, {"a.7": ("a.1", 2)})
    server, sender, sent, (past,) = decode(payload)
    assert (server, sender, sent) == ("A", "node-1", 1000.5)
    assert (past.id, past.key, past.agent, past.cut_off, past.cut_off_known) == (
        "a.7", "tel:5554444", rec.agent, True, True,
    )  # fmt: skip
    assert (past.chain_id, past.chain_seq) == ("a.1", 2)


def test_a_call_without_a_known_chain_starts_its_own_and_anonymous_calls_are_not_sent() -> None:
    anonymous = replace(record("a.8"), caller_key=None)
    (payload,) = encode([record("a.9", caller_key="tel:1"), anonymous], "A", "n", 1.0)
    *_, calls = decode(payload)
    assert [(c.id, c.chain_id, c.chain_seq) for c in calls] == [("a.9", None, 0)]


def test_a_big_batch_is_several_notifications_under_postgresqls_limit() -> None:
    recs = [record(f"b.{i}", caller_key=f"tel:{i}") for i in range(400)]
    payloads = encode(recs, "A", "n", 1.0)
    assert len(payloads) > 1 and all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)
    assert sum(len(decode(p)[3]) for p in payloads) == 400


@pytest.mark.parametrize("payload", ["[]", '{"v": 99, "c": []}', "not json"])
def test_anything_else_on_the_channel_is_refused(payload: str) -> None:
    with pytest.raises(ValueError):
        decode(payload)


def test_a_callback_on_another_server_continues_the_chain_it_learned() -> None:
    """Server A's third call of a chain is cut off; B learns it over the feed, and the caller's next
    call on B is the chain's fourth, a callback of A's call."""
    feed = Feed()
    feed(member("QueueMemberAdded", "support", "PJSIP/1001", "Alice"))
    cut = replace(
        record("a.3", caller_key="tel:5556666", cut_off=True, queue="support", agent="PJSIP/2001",
               ended_at=feed.now - 30),
        linkedid="a.3",
    )  # fmt: skip
    (payload,) = encode([cut], "A", "node-a", feed.now, {"a.3": ("a.1", 2)})
    feed.core.learn(decode(payload)[3])
    answered_call(feed, Call("b.1", number="5556666"))
    updates = [e for e in feed.effects if isinstance(e, CustomerCallUpdated) and e.call.linkedid == "b.1"]
    row = updates[-1].call
    assert (row.callback_of, row.chain_id, row.chain_seq) == ("a.3", "a.1", 3)
    assert json.loads(payload)["s"] == "A"
