"""Writing one AMI action and waiting for its answer, within a timeout on the client's own clock.

The answer is matched by :class:`acd.ami.actions.ActionTracker` (the table of actions waiting
for an answer); this module writes the action, registers it there and waits. Every wait goes
through :func:`within`, ``asyncio.wait_for`` on an injected ``sleep``: the client's every timeout
is then on the clock the tests drive, and a timed-out step is cancelled, never left running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from acd.ami.actions import ActionResult, ActionTracker, AmiNotConnected, AmiTimeout
from acd.ami.codec import encode_message
from acd.ami.notices import AmiStats

__all__ = ["Sleep", "Writable", "action_name", "header", "request", "within"]

_T = TypeVar("_T")
Sleep = Callable[[float], Awaitable[None]]


class Writable(Protocol):
    """Where an action's bytes go: a connection (:class:`acd.ami.protocol.AmiProtocol`)."""

    def write(self, payload: bytes) -> None: ...


async def request(
    proto: Writable | None,
    tracker: ActionTracker,
    stats: AmiStats,
    sleep: Sleep,
    action: Mapping[str, str],
    name: str,
    timeout: float,
    *,
    safe: bool = False,
) -> ActionResult:
    """Write ``action`` (named ``name``) to ``proto`` and wait up to ``timeout`` for its complete
    answer. ``safe``: a read the tracker may write again on the next connection. An ``ActionID``
    in ``action`` is kept; otherwise the tracker assigns one. The action leaves the table however
    the wait ends."""
    if proto is None:
        raise AmiNotConnected(f"{name}: not connected")
    headers = [(k, v) for k, v in action.items() if k.lower() not in ("action", "actionid")]
    action_id = header(action, "ActionID") or tracker.new_id()
    payload = encode_message([("Action", name), ("ActionID", action_id), *headers])
    future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
    tracker.register(action_id, name, payload, future, safe=safe)
    try:
        proto.write(payload)
        stats.actions_sent += 1
        return await within(future, timeout, sleep)
    except TimeoutError:
        stats.action_timeouts += 1
        raise AmiTimeout(f"{name}: no complete answer within {timeout:g}s") from None
    finally:
        tracker.forget(action_id)


async def within(awaitable: Awaitable[_T], timeout: float, sleep: Sleep) -> _T:
    """``asyncio.wait_for`` on ``sleep``: the awaitable's result, or ``TimeoutError`` (the
    awaitable cancelled) once ``timeout`` has passed on that clock."""
    inner = asyncio.ensure_future(awaitable)
    # The caller may be cancelled in the very turn the answer fails (a session torn down as
    # its connection is lost): the failure is then nobody's to read, and must not be logged
    # by asyncio as "never retrieved" at garbage collection.
    inner.add_done_callback(_mark_retrieved)
    timer = asyncio.ensure_future(sleep(timeout))
    try:
        await asyncio.wait({inner, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not inner.done():
            inner.cancel()
        timer.cancel()
    if not inner.done():
        # A task (a connect, the banner wait) needs a turn of the loop to finish its
        # cancellation: let it, so the caller moves on with TimeoutError, not half a connect.
        await asyncio.wait({inner})
    if inner.cancelled():
        raise TimeoutError
    return inner.result()


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def header(action: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` in ``action``, matched case-insensitively as Asterisk does."""
    lowered = name.lower()
    for key, value in action.items():
        if key.lower() == lowered:
            return str(value)
    return None


def action_name(action: Mapping[str, str]) -> str:
    """The action's ``Action`` header; a ``ValueError`` when it has none."""
    name = header(action, "Action")
    if not name:
        raise ValueError("an AMI action needs an 'Action' header")
    return name
