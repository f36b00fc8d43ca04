"""Commands: what an edge tells the core, on the same ordered queue as the AMI events.

An edge never changes the core directly. It puts a command on the daemon's event queue (from any
thread: appending to a deque is atomic) and the one consumer applies it with ``Core.command``
between two AMI events, in order. So whatever the routing lookup hands over before it answers
Asterisk is in the core before any event that answer causes (the dialplan's ``AcdRouted``
confirmation, the caller's queue join).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from acd.core.affinity import AffinityDecision
from acd.core.caller_history import PastCall

__all__ = ["Command", "HistoryLearned", "LookupAnswered"]


@dataclass(frozen=True, slots=True)
class LookupAnswered:
    """The routing lookup answered a caller with ``decision_id``.

    Nothing happens until the dialplan confirms that answer (``UserEvent: AcdRouted`` with
    ``Decision: <decision_id>``): then ``account`` becomes the caller channel's account (it wins
    over the number as caller key) and ``decision`` is followed to its final reason. An answer
    never confirmed (it came after Asterisk's bound, or the caller hung up) changes nothing.
    ``decision`` is None when acd routes nothing (the global switch is off) but the account still
    counts. ``uniqueid`` is what the lookup was told; the confirmation's own Uniqueid wins.
    """

    decision_id: str
    uniqueid: str
    account: str | None
    decision: AffinityDecision | None


@dataclass(frozen=True, slots=True)
class HistoryLearned:
    """Finished calls another acd process wrote to the shared database (another server, or this
    server's previous leader writing its journal late), as its notification carried them: caller
    history the core did not make itself. ``sent``: the writer's wall clock at its commit."""

    calls: tuple[PastCall, ...]
    sent: float


Command: TypeAlias = LookupAnswered | HistoryLearned
