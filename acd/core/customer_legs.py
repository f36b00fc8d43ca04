"""Which entries of a customer call are legs, under which shared queue, with what wait, and which
leg closes it: the rules, as pure functions over what is known of one open customer call. Pure.

Why apart from the stage (acd/core/customer.py): these rules decide every number a customer call
feeds (volume, ASA, service level, who closed it, callback results), and they depend only on one
call's entries. The stage's work is different in kind: it keeps many calls open at once and
remembers what later calls may name. Here a rule can be read, and changed, without the
bookkeeping around it; the stage calls :func:`legs_of` on each call it changed and hands the legs
to acd/core/customer_record.py, which builds the row.

Rules:

* **Legs.** Every shared-queue entry is a leg. An answered personal-queue entry is a leg too. An
  unanswered personal entry (its one ring or wait ran out, the caller went on) is folded into the
  next entry of the customer call: not a leg, its wait counted in that leg's. One with no next
  entry once the call is final (the caller hung up there) is a leg of its own.
* **Shared queue of a personal entry** (and of a customer call seen only in a personal queue): the
  queue its caller's routing decision names, else the customer call's shared entries' (the next
  one, else the one before), else that of the cut-off call it calls back, else the personal
  queue's agent's own shared queue (``home_queue``: the core knows whose queue it is).
* **Leg wait**, from the first arrival of the entries folded into the leg: the entry's own wait
  (Asterisk's HoldTime restarts in each queue) plus the time since the first folded entry arrived.
  ``None`` when Asterisk never told (a call acd adopted without a Wait or HoldTime): such a leg is
  left out of ASA and service level, never counted as 0.
* **Decided** (its facts can no longer change): a shared entry at once; an answered personal
  entry (and those folded into it) once its shared queue is settled (a routing decision or a
  shared entry named it, or the call is final); an unanswered personal entry once the shared entry
  it is folded into has started, or the call is final.
* **Closing leg**: the last answered leg (the customer call's agent, who ended it, its cause and
  flags are then the closing leg's: acd/core/customer_record.py).
* **Callback result** of a callback's leg: ``original_agent`` (answered by the agent of the call it
  calls back), ``other_agent``, ``original_unknown`` (answered, that agent not known), or the
  unanswered leg's outcome (``abandoned``, ``exited``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from acd.core.definitions import is_personal_queue
from acd.core.effects import CallRecord
from acd.core.fast_init import fast_init
from acd.core.origin import Origin

__all__ = ["Leg", "OpenCall", "callback_result", "closing_leg", "legs_of", "shared_queue"]


@dataclass(slots=True)
class OpenCall:
    """What the stage knows of one customer call while it is open: its entries and the facts they
    and the caller history told (acd/core/customer.py fills it; the rules here read it)."""

    linkedid: str
    joined_at: float
    caller_key: str | None = None
    caller_num: str | None = None
    caller_name: str | None = None
    account: str | None = None
    callback_of: str | None = None
    repeat_of: str | None = None
    chain_id: str = ""
    chain_seq: int = 0
    original_agent: str | None = None
    original_queue: str | None = None
    home_queue: str | None = None
    asked_queue: str | None = None
    routing: str | None = None
    live: dict[str, str] = field(default_factory=dict)  # entry id -> queue, while in a queue or connected
    started: dict[str, float] = field(default_factory=dict)  # live entry id -> when it joined
    entries: list[CallRecord] = field(default_factory=list)
    settled: set[str] = field(default_factory=set)
    channels_gone: bool = False
    final: bool = False
    last_change: float = 0.0
    origin: Origin | None = None
    origin_arrival: float | None = None  # the first arrival on the origin server, once known


@fast_init
@dataclass(frozen=True, slots=True)
class Leg:
    """One finished entry's place in its customer call."""

    record: CallRecord
    counted: bool  # a leg of its own; False: an unanswered personal entry folded into the next
    queue: str | None  # the shared queue it counts under
    wait: float | None
    first_joined: float  # the first arrival of the entries folded into it
    decided: bool  # its facts can no longer change


def shared_queue(call: OpenCall) -> tuple[str | None, bool]:
    """The customer call's shared queue, and whether it is settled: a routing decision or a shared
    entry named it, or the call is final (then the called-back call's queue is as good as it gets)."""
    if call.asked_queue is not None:
        return call.asked_queue, True
    for queue in [*(r.queue for r in call.entries), *call.live.values()]:
        if not is_personal_queue(queue):
            return queue, True
    return call.original_queue or call.home_queue, call.final


def callback_result(call: OpenCall, rec: CallRecord | None) -> str | None:
    """original_agent, other_agent, original_unknown (answered); abandoned, exited (not)."""
    if rec is None or (call.callback_of is None and rec.callback_of is None):
        return None
    if rec.outcome != "answered":
        return rec.outcome
    if call.original_agent is None:
        return "original_unknown"
    return "original_agent" if rec.agent == call.original_agent else "other_agent"


def legs_of(call: OpenCall) -> list[Leg]:
    """The finished entries of ``call`` as legs, in arrival order (rules in the module docstring)."""
    shared, settled = shared_queue(call)
    legs: list[Leg] = []
    folded: list[CallRecord] = []
    for rec in call.entries:
        personal = is_personal_queue(rec.queue)
        if personal and rec.outcome != "answered":
            folded.append(rec)
            continue
        queue = shared if personal else rec.queue
        decided = not personal or settled
        first = min([r.joined_at for r in folded] + [rec.joined_at])
        for f in folded:  # folded into this leg: counted in its wait, under its queue
            legs.append(Leg(f, False, queue, None, f.joined_at, decided))
        folded = []
        legs.append(Leg(rec, True, queue, _wait(rec, first), first, decided))
    if folded:
        # Unanswered personal entries with nothing after them yet: folded into the next entry once
        # one has started, a leg of their own once the call is final (the caller hung up there).
        next_queue = next((q for q in call.live.values() if not is_personal_queue(q)), None)
        if call.live and not call.final:
            for f in folded:
                legs.append(Leg(f, False, next_queue or shared, None, f.joined_at, next_queue is not None))
        else:
            first = folded[0].joined_at
            for f in folded[:-1]:
                legs.append(Leg(f, False, shared, None, f.joined_at, call.final))
            last = folded[-1]
            legs.append(Leg(last, True, shared, _wait(last, first), first, call.final))
    legs.sort(key=lambda leg: (leg.record.joined_at, leg.record.entry))
    return legs


def _wait(rec: CallRecord, first_joined: float) -> float | None:
    if rec.wait_seconds is None:
        return None
    return max(0.0, rec.wait_seconds + (rec.joined_at - first_joined))


def closing_leg(legs: Sequence[Leg]) -> Leg | None:
    answered = [leg for leg in legs if leg.counted and leg.record.outcome == "answered"]
    return answered[-1] if answered else None
