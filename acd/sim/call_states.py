"""Where a simulated caller's channel stands, and the moves between those places, as data.

The moves (each made by one function over the :class:`acd.sim.pbx.Pbx`; the captures in
tests/fixtures/ami are the reference for what Asterisk emits along the way):

- ``new``: the caller's Local pair exists, nothing runs yet (``Pbx.caller_pair``).
- ``new -> dialplan``: the channel runs dialplan outside any queue (``dialplan_calls.new_channel``,
  or Queue() refused it with JOINEMPTY). ``new | dialplan -> waiting``: Queue() took the caller
  (``app_queue.join``).
- ``waiting -> ringing``: members ring for it; ``ringing -> waiting``: none answered in time, or
  every rung member refused; ``ringing -> bridged``: one answered (``app_queue.answer``).
- ``waiting | ringing -> dialplan``: it left the queue alive (timeout, withdraw, redirect, an
  emptied queue: ``endings.queue_leave``); the dialplan goes on.
- ``bridged -> consulting``: the member started an attended transfer; ``consulting -> transferred``:
  it completed; ``bridged -> transferred``: a blind transfer. ``consulting -> bridged``: Asterisk
  restarted during the consultation, which dies with it; the call then ends as bridged.
- ``dialplan -> dialing``: Dial() rings a phone outside app_queue; ``dialing -> dialed``: it
  answered; ``dialing -> dialplan``: it did not (DIALSTATUS=NOANSWER).
- ``dialplan -> trunked``: Dial() passed the call over a trunk to another simulator
  (acd/sim/trunks.py); ``trunked -> dialplan``: the call there is over, Dial() returns (and the
  caller's channel goes).
- ``-> done``: the call's channels are gone (``Pbx.release``), from any place where a call can
  end: the dialplan or Hangup(), an abandon or a withdraw out of the queue, the end of a bridge,
  of a transfer or of a dialled call.
- ``done -> waiting``: the one way back: an AMI Redirect of a waiting caller into another queue
  ends its entry and starts a new one on the same channel (``actions/channels.redirect``).

A move the table does not hold is a bug of the simulator, not something Asterisk does: it raises
:class:`IllegalCallMove` rather than leave a state nobody can reason about.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["QUEUED", "TRANSITIONS", "CallState", "IllegalCallMove", "allowed"]

CallState = Literal[
    "new",
    "dialplan",
    "waiting",
    "ringing",
    "bridged",
    "consulting",
    "transferred",
    "dialing",
    "dialed",
    "trunked",
    "done",
]

TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    "new": frozenset({"dialplan", "waiting"}),
    "dialplan": frozenset({"waiting", "dialing", "trunked", "done"}),
    "waiting": frozenset({"ringing", "dialplan", "done"}),
    "ringing": frozenset({"waiting", "bridged", "dialplan", "done"}),
    "bridged": frozenset({"consulting", "transferred", "done"}),
    "consulting": frozenset({"transferred", "bridged"}),
    "transferred": frozenset({"done"}),
    "dialing": frozenset({"dialed", "dialplan"}),
    "dialed": frozenset({"done"}),
    "trunked": frozenset({"dialplan", "done"}),
    "done": frozenset({"waiting"}),
}

assert set(TRANSITIONS) == set(get_args(CallState)), "every state has its row"

# In a queue entry, waiting for a member (ringing ones or none yet)
QUEUED: frozenset[CallState] = frozenset({"waiting", "ringing"})


class IllegalCallMove(RuntimeError):
    """A move :data:`TRANSITIONS` does not hold: a bug of the simulator."""


def allowed(old: CallState, new: CallState) -> bool:
    return new in TRANSITIONS[old]
