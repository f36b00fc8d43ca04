"""Routed callers: the lookup's answers, confirmed by the dialplan, followed to their final reason.

Why a confirmation: the routing lookup answers within Asterisk's bound, but an answer can still
reach nobody (it came after the bound, for instance from a kernel backlog after acd was frozen, or
the caller hung up meanwhile). A decision that never reached the channel must not be recorded,
counted or acted on. So the lookup's answer only waits here (``answered``), and the dialplan's
``UserEvent(AcdRouted,Decision: <id>)``, sent once the whole answer was set on the channel, makes
it a decision (``confirmed``); an answer not confirmed within ``confirm_seconds`` is dropped and
reported as an ``Anomaly`` (kind ``routing_unconfirmed``).

A confirmed decision is then followed by :class:`acd.core.affinity.AffinityTracker` through the
core's own effects, which ends in exactly one ``AffinityDecided``. One rule acts on the call
itself: a caller held for a busy agent whose one ring goes unanswered leaves the personal queue
at once (``WithdrawRequested``; the exit is marked a withdrawal before Asterisk reports it).
"""

from __future__ import annotations

from collections import OrderedDict

from acd.core.affinity import AffinityTracker
from acd.core.commands import LookupAnswered
from acd.core.effects import Anomaly, Effect, MemberStateChanged, WithdrawRequested
from acd.core.registry import Registry

__all__ = ["RoutedCalls"]

CONFIRM_SECONDS = 60.0  # an answer not confirmed by then never reached a caller
MAX_WAITING = 10_000  # answers waiting for confirmation at most (a flood of lookups stays bounded)


class RoutedCalls:
    """Owned by the core; ``answered`` and ``confirmed`` feed it, ``follow`` and ``tick`` settle."""

    def __init__(self, confirm_seconds: float = CONFIRM_SECONDS, max_waiting: int = MAX_WAITING) -> None:
        self.confirm_seconds = confirm_seconds
        self.max_waiting = max_waiting
        self.waiting: OrderedDict[str, tuple[LookupAnswered, float]] = OrderedDict()
        self.tracker = AffinityTracker()
        self.confirmed_count = 0
        self.unconfirmed_count = 0

    def answered(self, command: LookupAnswered, now: float) -> None:
        self.waiting[command.decision_id] = (command, now)
        self.waiting.move_to_end(command.decision_id)
        while len(self.waiting) > self.max_waiting:
            self.waiting.popitem(last=False)
            self.unconfirmed_count += 1

    def confirmed(
        self, reg: Registry, decision_id: str, uniqueid: str, channel: str, now: float, out: list[Effect]
    ) -> None:
        """The dialplan set answer ``decision_id`` on channel ``uniqueid``: it is a decision now."""
        found = self.waiting.pop(decision_id, None) if decision_id else None
        if found is None:
            if decision_id:
                out.append(
                    Anomaly("routing_unknown_decision", "UserEvent", f"AcdRouted {decision_id[:40]}", now)
                )
            return
        command, answered_at = found
        self.confirmed_count += 1
        if not uniqueid:
            uniqueid = command.uniqueid
        if command.account and uniqueid:
            reg.set_account(uniqueid, command.account)
        if command.decision is not None and uniqueid:
            self.tracker.decided(uniqueid, channel, command.decision, answered_at)

    def follow(self, reg: Registry, effects: list[Effect], now: float) -> None:
        """Settle attempts from this batch of the core's effects (appends to ``effects``)."""
        tracker = self.tracker
        if not tracker.open:
            return
        for effect in list(effects):
            if (
                isinstance(effect, MemberStateChanged)
                and effect.previous == "ringing"
                and effect.state != "in_call"
            ):
                self._withdraw_after_no_answer(reg, effect.agent, now, effects)
            effects.extend(tracker.on_effect(effect, now))

    def tick(self, now: float, out: list[Effect]) -> None:
        out.extend(self.tracker.tick(now))
        limit = now - self.confirm_seconds
        waiting = self.waiting
        while waiting:
            decision_id, (_command, at) = next(iter(waiting.items()))
            if at >= limit:
                break
            del waiting[decision_id]
            self.unconfirmed_count += 1
            out.append(
                Anomaly(
                    "routing_unconfirmed",
                    None,
                    f"answer {decision_id} reached no caller (late, or the caller left)",
                    now,
                )
            )

    def _withdraw_after_no_answer(self, reg: Registry, agent: str, now: float, out: list[Effect]) -> None:
        for uid, channel, personal in self.tracker.attempt_for_agent(agent):
            entry = reg.by_uniqueid.get(uid)
            if entry is None or entry.queue != personal:
                continue
            unanswered = any(o.agent == agent and o.result == "no_answer" for o in entry.offers)
            chan = reg.channels.get(uid)
            name = channel or (chan.name if chan is not None else "")
            if unanswered and name and self.tracker.ring_unanswered(uid):
                reg.withdrawing(uid)
                out.append(WithdrawRequested(personal, name, uid, now))
