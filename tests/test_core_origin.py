"""Calls that cross servers: the dialplan's ACD_ORIGIN (UserEvent AcdOrigin) makes a call here the
continuation of a call on another server; driven through the real core with SIP-shaped events."""

from __future__ import annotations

import pytest

from acd.core.callcenter import Core
from acd.core.caller_history import PastCall
from acd.core.commands import HistoryLearned
from acd.core.config import CoreConfig
from acd.core.effects import Anomaly, CustomerCall, CustomerCallUpdated
from acd.core.origin import Origin, parse_origin
from tests.core_events import Call, Feed, answered_call, member


@pytest.fixture
def feed() -> Feed:
    f = Feed(core=Core(CoreConfig(server_id="b")))
    f(member("QueueMemberAdded", "support", "PJSIP/1001", "Bob"))
    return f


def origin_event(call: Call, value: str) -> dict[str, str]:
    return call.base("UserEvent", UserEvent="AcdOrigin", Origin=value)


def last(feed: Feed, linkedid: str) -> CustomerCall:
    mine = [e for e in feed.effects if isinstance(e, CustomerCallUpdated) and e.call.linkedid == linkedid]
    return mine[-1].call


def arrived_on_a(linkedid: str, joined_at: float, ended_at: float) -> PastCall:
    """Server a's record of the caller's entry there, as the shared caller history delivers it."""
    return PastCall(
        f"{linkedid}", linkedid, "tel:5551234", "support", None, None, False, False, ended_at,
        server="a", joined_at=joined_at,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("a:a-1800000000.12", Origin("a", "a-1800000000.12")),
        (" site-2 : 1800000000.5 ", Origin("site-2", "1800000000.5")),
        ("", None),
        ("a", None),
        (":1.2", None),
        ("a:", None),
        ("a:1.2 3", None),
        ("a:" + "9" * 65, None),
    ],
)
def test_the_origin_is_server_colon_linkedid_or_nothing(value: str, parsed: Origin | None) -> None:
    assert parse_origin(value) == parsed


def test_a_call_passed_with_its_origin_continues_that_call_and_waits_from_the_first_arrival(
    feed: Feed,
) -> None:
    # On a, the caller joined support at t0 - 40 and left at t0 - 1 (the queue's timeout), then a
    # dialled b over the trunk; a's record reached b through the shared history.
    t0 = feed.now
    feed.effects.extend(feed.core.command(HistoryLearned((arrived_on_a("a-9.1", t0 - 40, t0 - 1),), t0), t0))
    call = Call("b-7.1")
    feed(call.newchannel(), origin_event(call, "a:a-9.1"))
    answered_call(feed, call, "PJSIP/1001", "Bob", hold=5, talk=60)
    row = last(feed, "b-7.1")
    assert row.final and row.outcome == "answered" and row.agent == "PJSIP/1001"
    assert (row.origin_server, row.origin_linkedid) == ("a", "a-9.1")
    assert row.joined_at == pytest.approx(t0 - 40)  # the customer call arrived on a
    assert row.wait_seconds == pytest.approx(40 + 5)  # from a's arrival to b's answer
    assert row.talk_seconds == 60.0 and row.legs == 1


def test_the_first_arrival_learned_after_the_call_joined_updates_it(feed: Feed) -> None:
    call = Call("b-7.2")
    feed(call.newchannel(), origin_event(call, "a:a-9.2"), call.join())
    assert last(feed, "b-7.2").joined_at == feed.now
    assert (last(feed, "b-7.2").origin_server, last(feed, "b-7.2").origin_linkedid) == ("a", "a-9.2")
    t = feed.now
    out = feed.core.command(HistoryLearned((arrived_on_a("a-9.2", t - 30, t - 0.5),), t), t)
    (update,) = [e for e in out if isinstance(e, CustomerCallUpdated)]
    assert update.call.joined_at == pytest.approx(t - 30) and update.call.live


def test_an_origin_told_once_the_call_is_in_a_queue_still_counts(feed: Feed) -> None:
    call = Call("b-7.3")
    feed(call.newchannel(), call.join())
    feed(origin_event(call, "a:a-9.3"))
    assert last(feed, "b-7.3").origin_linkedid == "a-9.3"
    feed(origin_event(call, "c:c-1.1"))  # the first one told wins
    assert last(feed, "b-7.3").origin_server == "a"


def test_without_an_origin_a_call_is_its_own(feed: Feed) -> None:
    answered_call(feed, Call("b-7.4"), "PJSIP/1001", "Bob")
    row = last(feed, "b-7.4")
    assert (row.origin_server, row.origin_linkedid) == (None, None)


def test_a_malformed_origin_is_an_anomaly_and_changes_nothing(feed: Feed) -> None:
    call = Call("b-7.5")
    out = feed(call.newchannel(), origin_event(call, "no colon here"))
    assert [a.kind for a in out if isinstance(a, Anomaly)] == ["bad_origin"]
    assert feed(origin_event(call, "")) == []  # a trunk that passes nothing: no origin, no noise
    answered_call(feed, call, "PJSIP/1001", "Bob")
    assert last(feed, "b-7.5").origin_server is None


def test_origins_told_for_calls_that_never_queue_are_forgotten(feed: Feed) -> None:
    for n in range(50):
        call = Call(f"b-8.{n}")
        feed(call.newchannel(), origin_event(call, f"a:a-8.{n}"))
    assert len(feed.core.customers._origins) == 50
    feed.tick(2 * 86400)
    assert feed.core.customers._origins == {}


def test_a_first_arrival_learned_after_the_continuation_ended_still_moves_its_arrival(feed: Feed) -> None:
    call = Call("b-7.6")
    feed(call.newchannel(), origin_event(call, "a:a-9.6"))
    answered_call(feed, call, "PJSIP/1001", "Bob", hold=5, talk=30)
    ended = last(feed, "b-7.6")
    assert ended.final and ended.joined_at >= feed.now - 40
    t = feed.now
    out = feed.core.command(
        HistoryLearned((arrived_on_a("a-9.6", ended.joined_at - 20, ended.joined_at),), t), t
    )
    (update,) = [e for e in out if isinstance(e, CustomerCallUpdated)]
    assert update.call.final and update.call.joined_at == pytest.approx(ended.joined_at - 20)
    assert update.call.wait_seconds == pytest.approx(20 + 5)
    assert feed.core.customers._unarrived == {}
    feed.tick(2 * 86400)
    assert feed.core.customers.open == {}
