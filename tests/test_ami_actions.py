"""Matching answers to actions by ActionID, without sockets (acd.ami.actions)."""

from __future__ import annotations

import asyncio

import pytest

from acd.ami.actions import (
    SAFE_TO_REPEAT,
    ActionResult,
    ActionTracker,
    AmiActionError,
    AmiConnectionLost,
    AmiNotConnected,
)


def register(
    tracker: ActionTracker, name: str, *, safe: bool = False
) -> tuple[str, asyncio.Future[ActionResult]]:
    future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
    action_id = tracker.new_id()
    tracker.register(action_id, name, b"payload", future, safe=safe)
    return action_id, future


async def test_single_response_resolves_even_when_its_message_looks_like_a_list() -> None:
    tracker = ActionTracker()
    aid, future = register(tracker, "QueueAdd")
    tracker.on_response({"Response": "Success", "ActionID": aid, "Message": "Added interface to queue"})
    result = future.result()
    assert result.message == "Added interface to queue" and not result.is_list
    assert not tracker.listing


async def test_list_collects_items_until_complete() -> None:
    tracker = ActionTracker()
    aid, future = register(tracker, "DBGet")
    tracker.on_response(
        {"Response": "Success", "ActionID": aid, "EventList": "start", "Message": "Result will follow"}
    )
    assert aid in tracker.listing and not future.done()
    tracker.on_list_event({"Event": "DBGetResponse", "ActionID": aid, "Family": "f", "Key": "k", "Val": "v"})
    tracker.on_list_event(
        {"Event": "DBGetComplete", "ActionID": aid, "EventList": "Complete", "ListItems": "1"}
    )
    result = future.result()
    assert [i["Val"] for i in result.items] == ["v"]
    assert result.complete is not None and result.complete["ListItems"] == "1"
    assert not tracker.listing


async def test_error_response_fails_with_the_message() -> None:
    tracker = ActionTracker()
    aid, future = register(tracker, "DBGet")
    tracker.on_response({"Response": "Error", "ActionID": aid, "Message": "Database entry not found"})
    with pytest.raises(AmiActionError, match="DBGet: Database entry not found"):
        future.result()


async def test_unknown_or_missing_actionid_is_ignored() -> None:
    tracker = ActionTracker()
    _, future = register(tracker, "Ping")
    assert tracker.on_response({"Response": "Success", "ActionID": "someone-else"}) is None
    assert tracker.on_response({"Response": "Success"}) is None
    assert not future.done()


async def test_connection_lost_fails_actions_that_act_and_keeps_reads() -> None:
    tracker = ActionTracker()
    originate_id, originate = register(tracker, "Originate")
    status_id, status = register(tracker, "QueueStatus", safe=True)
    tracker.on_response({"Response": "Success", "ActionID": status_id, "EventList": "start"})
    tracker.on_list_event({"Event": "QueueParams", "ActionID": status_id})
    assert tracker.connection_lost(AmiConnectionLost, "reset by peer") == 1
    with pytest.raises(AmiConnectionLost, match="Originate"):
        originate.result()
    assert not status.done() and not tracker.listing
    [again] = tracker.take_resend()
    assert again.action_id == status_id and again.items == [] and again.response is None
    assert tracker.take_resend() == []  # written once per reconnect
    assert originate_id not in [p.action_id for p in tracker.take_resend()]


async def test_fail_all_and_duplicate_ids() -> None:
    tracker = ActionTracker()
    aid, future = register(tracker, "Ping")
    with pytest.raises(ValueError, match="already waiting"):
        tracker.register(aid, "Ping", b"", asyncio.get_running_loop().create_future(), safe=True)
    tracker.fail_all(AmiNotConnected("closed"))
    with pytest.raises(AmiNotConnected):
        future.result()
    assert len(tracker) == 0


def test_only_reads_are_safe_to_repeat() -> None:
    for name in ("originate", "redirect", "hangup", "userevent", "queueadd", "queuepause", "dbput", "setvar"):
        assert name not in SAFE_TO_REPEAT
    for name in ("ping", "queuestatus", "coreshowchannels", "dbget"):
        assert name in SAFE_TO_REPEAT
    assert "getvar" not in SAFE_TO_REPEAT  # a dialplan function read can write (DB_DELETE)
    assert "command" not in SAFE_TO_REPEAT
