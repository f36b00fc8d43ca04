"""Calls that cross servers: which call on another server a call here continues. Pure.

Nothing in AMI ties a call on server A to its continuation on server B over a trunk: B sees a new
channel with a new Linkedid. The sending dialplan passes ``ACD_ORIGIN=<server>:<linkedid>`` over
the trunk (an IAX2 variable or a PJSIP header, ``acd asterisk-config`` writes both sides), and the
receiving dialplan reports it with ``UserEvent(AcdOrigin,Origin: <server>:<linkedid>)`` before the
call joins a queue. The customer-call stage (acd/core/customer.py) then records B's customer call
as the continuation of A's:

* B's row names A's call (``origin_server``, ``origin_linkedid``); the readers count a customer
  call that a continuation names as part of that continuation, never on its own, so the pair is
  one customer call in every figure (acd/reads/summary.py);
* the continuation's arrival is the first arrival on A (when B knows it: from the shared caller
  history, which holds callers with a number or account), so its wait runs from there to the
  answer on B; its agent, outcome, cause and
  cut-off are B's handling of it. Queue figures (offered, answered, abandoned per queue) stay
  per leg on each server, as a transfer between two queues of one server counts a leg in each.

Each hop names the one before it (A to B to C: C names B, B names A), so the last server's row is
the one counted, and each server keeps its own calls' rows.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Origin", "parse_origin"]

MAX_PART = 64  # the width of the server and Linkedid columns


@dataclass(frozen=True, slots=True)
class Origin:
    server: str
    linkedid: str


def parse_origin(value: str) -> Origin | None:
    """``<server>:<linkedid>`` as the dialplan sent it; None for anything else (an empty value: the
    call came in without one, over a trunk that does not pass it)."""
    server, sep, linkedid = value.strip().partition(":")
    server, linkedid = server.strip(), linkedid.strip()
    if not sep or not server or not linkedid:
        return None
    if len(server) > MAX_PART or len(linkedid) > MAX_PART:
        return None
    if any(c.isspace() or c in ":;," for c in server + linkedid):
        return None
    return Origin(server, linkedid)
