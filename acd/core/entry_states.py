"""The states of a queue entry and the moves between them, as data.

Rules (the handlers in acd/core/queue_entries.py and acd/core/channels.py make the moves; the
captures in tests/fixtures/ami are the reference):

- An entry is born ``waiting`` at ``QueueCallerJoin`` (or adopted from a snapshot or queue_log).
- ``waiting -> leaving``: ``QueueCallerLeave`` of a caller not answered and not (yet) hung up:
  an ``AgentConnect`` may follow at once, or the exit is decided by what comes next or a timer.
- ``waiting | leaving -> connected``: ``AgentConnect``; also an ``AgentComplete`` or a resync
  snapshot showing the caller bridged to an agent, when the connect fell in a gap.
- ``waiting | leaving -> abandoned``: the caller hung up while waiting (before the leave or
  within the decision time after it). ``waiting | leaving -> exited``: the queue (timeout, empty,
  key), acd (withdraw) or a redirect took the caller out. Both are final: the record follows.
- ``connected -> completed``: ``AgentComplete``; the record follows once both sides hung up, a
  transfer was seen, or the grace period passed.

A move the table does not hold (an ``AgentConnect`` for a call already completed, a second
``AgentComplete``) is not made: the core reports it as an ``Anomaly`` and keeps the state it
had. A call that ends without a move of its own (lost in an AMI gap, taken by Asterisk's
shutdown, stale) keeps its last state; its record says why it ended (``Entry.lost``).
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["TRANSITIONS", "EntryState", "allowed"]

EntryState = Literal["waiting", "leaving", "connected", "completed", "abandoned", "exited"]

TRANSITIONS: dict[EntryState, frozenset[EntryState]] = {
    "waiting": frozenset({"leaving", "connected", "abandoned", "exited"}),
    "leaving": frozenset({"connected", "abandoned", "exited"}),
    "connected": frozenset({"completed"}),
    "completed": frozenset(),
    "abandoned": frozenset(),
    "exited": frozenset(),
}

assert set(TRANSITIONS) == set(get_args(EntryState)), "every state has its row"


def allowed(old: EntryState, new: EntryState) -> bool:
    return new in TRANSITIONS[old]
