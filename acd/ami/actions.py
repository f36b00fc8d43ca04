"""Matching AMI answers to the actions that asked for them, by ``ActionID``.

Why this is ours and not panoramisk's: panoramisk guesses whether an answer is a list from the
wording of ``Message`` ("added ... to queue" counts as a list start, so ``QueueAdd`` never resolves).
Asterisk says it outright: a list answer carries ``EventList: start``, its items are events with the
action's ``ActionID``, and it ends with an event carrying ``EventList: Complete`` (captures:
QueueStatus, CoreShowChannels, QueueSummary, DBGet, DBGetTree). Everything else is answered by one
``Response`` message.

Rules kept here:
- a ``Response: Error`` fails the action with :class:`AmiActionError` (message kept);
- list items are collected only after the ``EventList: start`` response, so an event that merely
  repeats the sender's ActionID (``UserEvent`` broadcasts do) is never taken for an item;
- when the connection drops, an action already written may or may not have run. Only reads on
  :data:`SAFE_TO_REPEAT` are written again on the next connection; every other one fails with
  :class:`AmiConnectionLost` so the caller decides (an ``Originate`` sent twice rings a phone twice).

No sockets here: the tracker is fed parsed messages and settles futures.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

__all__ = [
    "SAFE_TO_REPEAT",
    "ActionResult",
    "ActionTracker",
    "AmiActionError",
    "AmiConnectionLost",
    "AmiError",
    "AmiNotConnected",
    "AmiTimeout",
    "PendingAction",
]

# Reads with no side effect on Asterisk: repeating one after a reconnect cannot change a call.
# Deliberately absent: Getvar (a dialplan function can write, e.g. DB_DELETE()), Command (any CLI
# command), and every action that acts (Originate, Redirect, Hangup, UserEvent, QueueAdd, DBPut...).
SAFE_TO_REPEAT: frozenset[str] = frozenset(
    {
        "ping",
        "queuestatus",
        "queuesummary",
        "coreshowchannels",
        "corestatus",
        "coresettings",
        "status",
        "dbget",
        "dbgettree",
        "listcommands",
        "devicestatelist",
        "extensionstatelist",
        "presencestatelist",
        "pjsipshowendpoints",
        "pjsipshowcontacts",
        "sippeers",
        "showdialplan",
        "waitevent",
    }
)

_SUCCESS = frozenset({"Success", "Follows", "Goodbye"})


class AmiError(Exception):
    """Base of every error the AMI client raises to its callers."""


class AmiNotConnected(AmiError):
    """Not logged in (connecting, reconnecting, refused, or closed): the action was not sent."""


class AmiConnectionLost(AmiNotConnected):
    """The connection dropped after the action was written: it may or may not have run."""


class AmiTimeout(AmiError, TimeoutError):
    """No complete answer within the action's timeout."""


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error`` (or another non-success response)."""

    def __init__(self, action: str, message: str, response: dict[str, str]) -> None:
        super().__init__(f"{action}: {message}" if message else f"{action}: {response.get('Response')}")
        self.action = action
        self.message = message
        self.response = response


@dataclass(frozen=True, slots=True)
class ActionResult:
    """An action's complete answer: the response, and for list actions the items and the
    closing ``...Complete`` event. Header dicts are shared with ``on_message``: treat as read-only.
    """

    action: str
    action_id: str
    response: dict[str, str]
    items: tuple[dict[str, str], ...] = ()
    complete: dict[str, str] | None = None

    @property
    def message(self) -> str | None:
        return self.response.get("Message")

    @property
    def is_list(self) -> bool:
        return self.complete is not None


@dataclass(slots=True, eq=False)
class PendingAction:
    action_id: str
    name: str
    payload: bytes
    future: asyncio.Future[ActionResult]
    safe: bool
    response: dict[str, str] | None = None
    items: list[dict[str, str]] = field(default_factory=list)
    resend: bool = False


class ActionTracker:
    """Pending actions by ActionID. ``listing`` is the hot-path check: it is non-empty only while a
    list answer is being collected, so an ordinary event costs one truth test."""

    __slots__ = ("_ids", "_pending", "_prefix", "listing")

    def __init__(self, prefix: str = "acd") -> None:
        self._prefix = prefix
        self._ids = itertools.count(1)
        self._pending: dict[str, PendingAction] = {}
        self.listing: dict[str, PendingAction] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def new_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    def get(self, action_id: str) -> PendingAction | None:
        return self._pending.get(action_id)

    def register(
        self, action_id: str, name: str, payload: bytes, future: asyncio.Future[ActionResult], *, safe: bool
    ) -> PendingAction:
        if action_id in self._pending:
            raise ValueError(f"ActionID {action_id!r} is already waiting for an answer")
        pending = PendingAction(action_id, name, payload, future, safe)
        self._pending[action_id] = pending
        return pending

    def forget(self, action_id: str) -> None:
        """The caller stopped waiting (answered, timed out or cancelled)."""
        self._pending.pop(action_id, None)
        self.listing.pop(action_id, None)

    def on_response(self, msg: dict[str, str]) -> PendingAction | None:
        """A message without ``Event``: the first answer to an action."""
        action_id = msg.get("ActionID")
        if action_id is None:
            return None
        pending = self._pending.get(action_id)
        if pending is None or pending.future.done():
            return None
        pending.response = msg
        status = msg.get("Response", "")
        if status not in _SUCCESS:
            self._settle_error(pending, msg)
        elif msg.get("EventList", "").lower() == "start":
            pending.items = []
            self.listing[action_id] = pending
        else:
            self._settle(pending, ActionResult(pending.name, action_id, msg))
        return pending

    def on_list_event(self, msg: dict[str, str]) -> None:
        """An event whose ActionID is in :attr:`listing`: one item, or the closing event."""
        action_id = msg["ActionID"]
        pending = self.listing[action_id]
        if msg.get("EventList", "").lower() == "complete" or msg.get("Event", "").endswith("Complete"):
            del self.listing[action_id]
            response = pending.response if pending.response is not None else {}
            self._settle(pending, ActionResult(pending.name, action_id, response, tuple(pending.items), msg))
        else:
            pending.items.append(msg)

    def connection_lost(self, make_error: type[AmiConnectionLost], reason: str) -> int:
        """Fail what may have run; keep safe reads for :meth:`take_resend`. Returns how many are kept."""
        self.listing.clear()
        kept = 0
        for action_id, pending in list(self._pending.items()):
            if pending.future.done():
                continue
            if pending.safe:
                pending.response = None
                pending.items = []
                pending.resend = True
                kept += 1
            else:
                del self._pending[action_id]
                pending.future.set_exception(
                    make_error(f"{pending.name}: connection lost before its answer ({reason})")
                )
        return kept

    def take_resend(self) -> list[PendingAction]:
        """Safe reads to write again on the new connection, in their original order."""
        out = [p for p in self._pending.values() if p.resend and not p.future.done()]
        for pending in out:
            pending.resend = False
        return out

    def fail_all(self, error: AmiError) -> None:
        self.listing.clear()
        pending_all, self._pending = self._pending, {}
        for pending in pending_all.values():
            if not pending.future.done():
                pending.future.set_exception(error)

    def _settle(self, pending: PendingAction, result: ActionResult) -> None:
        self.listing.pop(pending.action_id, None)
        if not pending.future.done():
            pending.future.set_result(result)

    def _settle_error(self, pending: PendingAction, msg: dict[str, str]) -> None:
        self.listing.pop(pending.action_id, None)
        if not pending.future.done():
            pending.future.set_exception(AmiActionError(pending.name, msg.get("Message", ""), msg))
