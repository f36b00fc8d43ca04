"""What each demo rep writes after a call: disposition, notes, sale points, an order left open.

Pure (a seeded ``random.Random`` in, a decision out), so the live reps (acd/demo/reps.py) and the
history (acd/demo/history.py) write the same kinds of outcomes. The personas are the habits a
quality review is there to see:

- ``careful``: notes a colleague can act on, every time;
- ``rushed``: notes left empty or "ok";
- ``early_release``: hangs up on every second customer early, the first one included (the
  phone's part, :class:`EarlyRelease`, is played live by acd/demo/reps.py and in the history by
  acd/demo/history.py); writes short notes;
- ``closer``: always finishes the orders other reps' cut-offs left open when the customer calls
  back (the others mostly do, a quarter of them at a discount the customer asked for, and leave
  the rest open for the rep who took it);
- ``haggler``: quotes their own price when closing a sale someone else started, so the chain's
  two posts disagree (a disputed sale for the review queue);
- ``steady``: everyone else: decent notes, now and then none.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["CallSeen", "Decision", "EarlyRelease", "Order", "Previous", "decide"]

SALE_POINTS = (20.0, 35.0, 50.0, 80.0, 120.0)
EARLY_RELEASE_EVERY = 2  # the habit shows on the scorecard from the rep's first call, not by luck
EARLY_RELEASE_TALK = (4.0, 20.0)  # simulated seconds of talk before the hang-up


class EarlyRelease:
    """The early-release reps on the phone: which of their calls they hang up on, and when."""

    def __init__(self, interfaces: set[str], rng: random.Random) -> None:
        self.interfaces = interfaces
        self.rng = rng
        self.connects: dict[str, int] = {}

    def hang_up(self, headers: dict[str, str]) -> tuple[str, float] | None:
        """For an ``AgentConnect``: the rep's channel to hang up and after how many simulated
        seconds of talk, or None (another rep, or a call the rep lets run)."""
        iface = headers.get("Interface", "")
        if headers.get("Event") != "AgentConnect" or iface not in self.interfaces:
            return None
        n = self.connects[iface] = self.connects.get(iface, 0) + 1
        channel = headers.get("DestChannel", "")
        if (n - 1) % EARLY_RELEASE_EVERY or not channel.endswith(";1"):
            return None
        return channel[:-1] + "2", self.rng.uniform(*EARLY_RELEASE_TALK)


_SUPPORT_NOTES = (
    "router restarted remotely, line synced at 48 Mbit/s, customer confirmed",
    "invoice explained: one-off activation fee, no refund due",
    "password reset for the customer portal, login tested together",
    "moved the technician visit to Thursday 10:00-12:00",
    "roaming enabled for the trip, data cap of 5 GB explained",
    "duplicate direct debit found, refund of 24.90 booked",
)
_SALES_NOTES = (
    "upgrade to fibre 250 ordered, router swap included",
    "second SIM added to the family plan",
    "TV package booked from the 1st, first month free",
    "asked for a quote only; sent it by mail, will decide next week",
    "phone plus contract renewal, delivery Monday",
)
_OPEN_LEFT = ("delivery address", "bank details for the direct debit", "choice of phone colour", "ID check")


@dataclass(frozen=True, slots=True)
class Order:
    ref: str
    status: str  # "open" or "closed"
    left: str | None = None


@dataclass(frozen=True, slots=True)
class Previous:
    """The earlier call of a callback chain, as the screen pop shows it."""

    agent: str | None
    points: float | None
    order: Order | None  # the order it left open, if any


@dataclass(frozen=True, slots=True)
class CallSeen:
    """What the rep knows about the call they just finished."""

    call_id: str
    queue: str
    cut_off: bool
    talk_seconds: float
    previous: Previous | None  # set when this call is a callback of a cut-off call


@dataclass(frozen=True, slots=True)
class Decision:
    disposition: str
    resolved: bool | None
    notes: str | None
    points: float | None = None
    order: Order | None = None


def decide(persona: str, me: str, call: CallSeen, rng: random.Random) -> Decision:
    """The outcome ``me`` (an agent interface) posts for ``call``."""
    prev = call.previous
    if prev is not None and prev.order is not None and prev.order.status == "open":
        return _finish_order(persona, me, call, prev, prev.order, rng)
    if call.cut_off:
        return _cut_off(persona, call, rng)
    if call.queue == "sales" and rng.random() < 0.4:
        points = rng.choice(SALE_POINTS)
        return Decision("sale", True, _notes(persona, _SALES_NOTES, rng), points)
    if call.queue == "sales":
        return Decision(
            rng.choice(("no_sale", "follow_up")), rng.random() < 0.5, _notes(persona, _SALES_NOTES, rng)
        )
    x = rng.random()
    disposition = "resolved" if x < 0.72 else ("follow_up" if x < 0.92 else "wrong_number")
    return Decision(disposition, disposition != "follow_up", _notes(persona, _SUPPORT_NOTES, rng))


def _cut_off(persona: str, call: CallSeen, rng: random.Random) -> Decision:
    """The line dropped mid-call: a sale in progress stays open on the chain for whoever takes
    the customer's callback."""
    if call.queue == "sales" and rng.random() < 0.9:
        ref = f"ORD-{rng.randrange(10_000, 100_000)}"
        left = rng.choice(_OPEN_LEFT)
        notes = None if persona == "rushed" else f"line dropped while taking the order; still needed: {left}"
        return Decision("sale", False, notes, rng.choice(SALE_POINTS), Order(ref, "open", left))
    notes = None if persona == "rushed" else "call dropped mid-conversation, customer likely to call back"
    return Decision("follow_up", False, notes)


def _finish_order(
    persona: str, me: str, call: CallSeen, prev: Previous, order: Order, rng: random.Random
) -> Decision:
    mine = prev.agent == me
    quoted = prev.points
    if mine or persona in ("closer", "haggler") or rng.random() < 0.7:
        points = quoted
        if not mine and quoted is not None:
            if persona == "haggler":
                points = quoted + rng.choice((10.0, 15.0, 25.0))  # their own price: the chain disagrees
            elif rng.random() < 0.25:
                points = max(quoted - rng.choice((5.0, 10.0)), 5.0)  # the customer asked for a discount
        notes = _notes(
            persona, (f"customer called back; order {order.ref} completed ({order.left} taken)",), rng
        )
        return Decision("sale", True, notes, points, Order(order.ref, "closed"))
    # Someone else's order, now and then: answered the question, left the order to its owner.
    notes = _notes(persona, (f"callback about {order.ref}; order still open, {order.left} missing",), rng)
    return Decision("follow_up", False, notes, None, None)


def _notes(persona: str, pool: tuple[str, ...], rng: random.Random) -> str | None:
    if persona == "rushed":
        return None if rng.random() < 0.5 else "ok"
    if persona == "careful":
        text = rng.choice(pool)
        return f"{text}. Checked the account history first; customer agreed with the next step."
    if persona == "early_release":
        return rng.choice(("done", "sorted", rng.choice(pool)))
    if rng.random() < 0.1:
        return None
    return rng.choice(pool)
