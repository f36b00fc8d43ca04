"""Resync: ask Asterisk for the present state after every (re)connection.

Why: acd may have been down, or the connection may have dropped, while calls began and ended.
``QueueStatus`` lists every queue and member (paused, in call, ...) and ``CoreShowChannels`` every
live channel, so the core can reconcile what it believes with what is true and mark the gap.

When: on ``FullyBooted`` (the :class:`acd.ami.connection.FullyBooted` notice), not on the login
response: a restarting Asterisk accepts the login before it has finished booting
(tests/fixtures/ami/asterisk_restart.reconnect.ami.log).

How the items reach the core: every list item is an event and goes through ``on_message`` in wire
order like any other, before this coroutine returns (the closing ``...Complete`` event resolves
the action only after it has been delivered). So a caller that enqueues a "snapshot begins" marker
before ``await resync(client)`` and a "snapshot done" marker after it has the whole snapshot,
in order, between the two.

Both actions are reads (:data:`acd.ami.actions.SAFE_TO_REPEAT`), so a timeout is retried once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from acd.ami.actions import ActionResult, AmiTimeout

__all__ = ["ResyncResult", "resync"]


class _Sender(Protocol):
    async def send_action(
        self, action: Mapping[str, str], *, timeout: float | None = None
    ) -> ActionResult: ...


@dataclass(frozen=True, slots=True)
class ResyncResult:
    queue_status: ActionResult
    channels: ActionResult
    retries: int  # timeouts retried (0 on a healthy link)

    @property
    def queues(self) -> int:
        return sum(1 for item in self.queue_status.items if item.get("Event") == "QueueParams")

    @property
    def members(self) -> int:
        return sum(1 for item in self.queue_status.items if item.get("Event") == "QueueMember")

    @property
    def callers(self) -> int:
        return sum(1 for item in self.queue_status.items if item.get("Event") == "QueueEntry")

    @property
    def channel_count(self) -> int:
        return sum(1 for item in self.channels.items if item.get("Event") == "CoreShowChannel")


async def resync(client: _Sender, *, timeout: float | None = None) -> ResyncResult:
    """``QueueStatus`` then ``CoreShowChannels``, each retried once on timeout.

    Raises :class:`acd.ami.actions.AmiNotConnected` if the connection is gone (the next
    ``FullyBooted`` brings another resync), :class:`acd.ami.actions.AmiTimeout` after the retry,
    :class:`acd.ami.actions.AmiActionError` if Asterisk refuses (a manager user without the
    needed class).
    """
    retries = 0

    async def read(action: str) -> ActionResult:
        nonlocal retries
        try:
            return await client.send_action({"Action": action}, timeout=timeout)
        except AmiTimeout:
            retries += 1
            return await client.send_action({"Action": action}, timeout=timeout)

    queue_status = await read("QueueStatus")
    channels = await read("CoreShowChannels")
    return ResyncResult(queue_status, channels, retries)
