"""The customer-call stage: the queue-entry model's effects in, customer calls out. Pure.

acd/core/queue_entries.py turns AMI into queue entries (``CallStarted``/``CallFinished``).
What reps, supervisors and every number care about is the *customer call*: the entries sharing a
Linkedid (a personal affinity queue then the shared queue, a transfer to another queue). This
stage builds it once, and every reader (store, report, API, metrics) takes its fields as they are.

It is in three modules, one job each: this one keeps the books (the calls open at once, what a
later callback may name, what arrived before its call, when a call is final, what to forget);
acd/core/customer_legs.py holds the rules that make one call's entries into legs (which are legs,
their shared queue and wait, the closing leg); acd/core/customer_record.py builds the row from
them. Why: the books are about many calls and time, the rules about one call's entries; apart,
each can be read and changed without the other.

Rules:

* **Chain**: a callback joins the chain of the call it calls back, one further along
  (``chain_seq``), and inherits the agent of the entry it calls back and the queue that call
  counted under (its original agent and queue); any other call starts a chain of its own
  (acd/core/credit.py says what a chain is for).
  A callback whose called-back entry is not known here (another process ended it, or it was
  forgotten) joins the chain of the customer call the caller history named, at ``chain_seq`` 1.
* **Repeat**: ``repeat_of`` is the earlier customer call the caller history named at arrival, else
  (an entry seen only at its end) that of the entry its record names while that entry is known.
* **Origin**: a call another server passed here with ``ACD_ORIGIN`` (acd/core/origin.py) is that
  call's continuation; the first origin told wins, even when told before the call's first entry.
  Its arrival is learned from the caller history (``remember``), also after the call is final.
* **Final** once no entry is live and every channel of the Linkedid has hung up (or, failing news,
  ``stale_call_seconds`` after its last entry ended): nothing more can happen to it, and it is
  forgotten.
* **Memory**: finished entries a callback may name, routing decisions and origins told before
  their call, and the origins' arrivals are kept for the longest callback window plus the finish
  grace, then forgotten.

Output: ``CustomerCallUpdated`` whenever a customer call changed (at most one per call per input
batch; the store upserts it), and ``LegSettled`` once per entry when its place in the numbers can
no longer change (the counters' input): a shared entry when it ends, a personal entry when its
shared queue is known (answered) or the next entry starts (unanswered), or when the call is final.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from acd.core.caller_history import PastCall
from acd.core.config import CoreConfig
from acd.core.customer_legs import OpenCall, callback_result, legs_of
from acd.core.customer_record import customer_call_updated
from acd.core.definitions import is_personal_queue
from acd.core.effects import (
    AffinityDecided,
    CallFinished,
    CallRecord,
    CallStarted,
    Effect,
    LegSettled,
)
from acd.core.fast_init import fast_init
from acd.core.origin import Origin

__all__ = ["CustomerCalls", "customer_calls_of"]


@fast_init
@dataclass(frozen=True, slots=True)
class _Known:
    """A finished entry a later callback may name: what the callback inherits from it."""

    linkedid: str
    chain_id: str
    chain_seq: int
    agent: str | None
    queue: str | None
    ended_at: float


class CustomerCalls:
    """Feed it every entry effect (:meth:`observe`), the routing decisions, and the Linkedids whose
    channels all hung up (:meth:`channels_gone`); it returns the customer-call effects."""

    def __init__(
        self,
        config: CoreConfig,
        channels_live: Callable[[str], bool] = lambda _: False,
        home_queue: Callable[[str], str | None] = lambda _: None,
    ) -> None:
        self.config = config
        self._channels_live = channels_live
        self._home_queue = home_queue
        self.open: dict[str, OpenCall] = {}
        self._by_uniqueid: dict[str, str] = {}  # caller channel -> Linkedid, for routing decisions
        self._live_uniqueid: dict[str, str] = {}  # live entry id -> its caller channel
        self._decisions: dict[str, AffinityDecided] = {}  # arrived before their call, by uniqueid
        self._known: dict[str, _Known] = {}  # finished entry id -> what a callback inherits
        self._known_order: deque[tuple[float, str]] = deque()
        self._origins: dict[str, tuple[Origin, float]] = {}  # told before the call's first entry
        self._arrivals: dict[Origin, float] = {}  # (server, Linkedid) -> its first arrival
        self._arrival_order: deque[tuple[float, Origin]] = deque()
        # final continuations whose origin's arrival was not known yet, with when they arrived here
        self._unarrived: dict[Origin, tuple[OpenCall, float]] = {}
        self._horizon = max(
            [config.defaults.callback_window_seconds]
            + [q.callback_window_seconds for q in config.queues.values()]
        )

    # ------------------------------------------------------------------ inputs

    def observe(self, effects: Iterable[Effect], now: float) -> list[Effect]:
        dirty: dict[str, OpenCall] = {}
        out: list[Effect] = []
        for effect in effects:
            call: OpenCall | None
            if isinstance(effect, CallStarted):
                call = self._started(effect, now)
            elif isinstance(effect, CallFinished):
                call = self._finished(effect.record, now)
            elif isinstance(effect, AffinityDecided):
                call = self._decided(effect)
            else:
                continue
            if call is not None:
                dirty[call.linkedid] = call
        self._emit(dirty.values(), now, out)
        return out

    def channels_gone(self, linkedids: Iterable[str], now: float) -> list[Effect]:
        dirty: dict[str, OpenCall] = {}
        for linkedid in linkedids:
            call = self.open.get(linkedid)
            if call is not None:
                call.channels_gone = True
                dirty[linkedid] = call
        out: list[Effect] = []
        self._emit(dirty.values(), now, out)
        return out

    def tick(self, now: float) -> list[Effect]:
        """Finalize calls with no news for too long; forget what no callback can name any more."""
        limit = now - self.config.stale_call_seconds
        stale = {
            c.linkedid: c for c in self.open.values() if not c.live and c.last_change < limit and c.entries
        }
        for call in stale.values():
            call.channels_gone = True
        out: list[Effect] = []
        self._emit(stale.values(), now, out)
        horizon = now - self._horizon - self.config.finish_grace_seconds
        order = self._known_order
        while order and order[0][0] < horizon:
            _, entry_id = order.popleft()
            known = self._known.get(entry_id)
            if known is not None and known.ended_at < horizon:
                del self._known[entry_id]
        for uid in [u for u, d in self._decisions.items() if d.at < horizon]:
            del self._decisions[uid]
        for linkedid in [k for k, (_, at) in self._origins.items() if at < horizon]:
            del self._origins[linkedid]
        for origin in [k for k, (_, at) in self._unarrived.items() if at < horizon]:
            del self._unarrived[origin]
        arrivals = self._arrival_order
        while arrivals and arrivals[0][0] < horizon:
            _, origin = arrivals.popleft()
            if self._arrivals.get(origin, now) < horizon:
                del self._arrivals[origin]
        return out

    def origin(self, linkedid: str, origin: Origin, now: float) -> list[Effect]:
        """The dialplan told which call on another server this Linkedid continues (UserEvent
        AcdOrigin, before the call joins a queue; the first one told wins)."""
        if origin.linkedid == linkedid and origin.server == self.config.server_id:
            return []  # names itself: nothing to tie
        call = self.open.get(linkedid)
        if call is None:
            self._origins.setdefault(linkedid, (origin, now))
            return []
        if call.origin is not None or call.final:
            return []
        self._set_origin(call, origin)
        call.last_change = now
        out: list[Effect] = []
        self._emit([call], now, out)
        return out

    def _set_origin(self, call: OpenCall, origin: Origin) -> None:
        call.origin = origin
        call.origin_arrival = self._arrivals.get(origin)

    def remember(self, calls: Iterable[PastCall], now: float | None = None) -> list[Effect]:
        """Seed from storage (daemon start) and learn from other processes: finished entries later
        callbacks may name, and the arrivals of calls that continue here. Returns the updates of
        open continuations whose origin's arrival this told (``now`` given: learning live)."""
        arrived: set[Origin] = set()
        for past in calls:
            if past.joined_at is not None:
                key = Origin(past.server or self.config.server_id, past.linkedid)
                first = self._arrivals.get(key)
                if first is None or past.joined_at < first:
                    self._arrivals[key] = past.joined_at
                    self._arrival_order.append((past.ended_at, key))
                    arrived.add(key)
            self._know(
                past.id,
                _Known(
                    past.linkedid,
                    past.chain_id or past.linkedid,
                    past.chain_seq,
                    past.agent,
                    past.queue if not is_personal_queue(past.queue) else None,
                    past.ended_at,
                ),
            )
        if not arrived:
            return []
        dirty = [c for c in self.open.values() if c.origin in arrived and not c.final]
        for call in dirty:
            call.origin_arrival = self._arrivals[call.origin]  # type: ignore[index]
        out: list[Effect] = []
        if now is None:
            return out
        self._emit(dirty, now, out)
        for origin in arrived & self._unarrived.keys():
            call, _ = self._unarrived.pop(origin)
            call.origin_arrival = self._arrivals[origin]
            legs = legs_of(call)
            out.append(customer_call_updated(call, legs, now))  # final still: only its arrival moves
        return out

    # ------------------------------------------------------------------ handlers

    def _call(self, linkedid: str, joined_at: float) -> OpenCall:
        call = self.open.get(linkedid)
        if call is None:
            call = self.open[linkedid] = OpenCall(linkedid, joined_at, chain_id=linkedid)
            told = self._origins.pop(linkedid, None)
            if told is not None:
                self._set_origin(call, told[0])
        elif joined_at < call.joined_at:
            call.joined_at = joined_at
        return call

    def _link(self, call: OpenCall, callback_of: str | None, callback_call: str | None) -> None:
        if call.callback_of is not None or callback_of is None:
            return
        known = self._known.get(callback_of)
        if known is not None:
            call.callback_of = known.linkedid
            call.chain_id, call.chain_seq = known.chain_id, known.chain_seq + 1
            call.original_agent, call.original_queue = known.agent, known.queue
        elif callback_call is not None:
            call.callback_of = call.chain_id = callback_call
            call.chain_seq = 1

    def _started(self, e: CallStarted, now: float) -> OpenCall:
        call = self._call(e.linkedid, e.at)
        call.live[e.id] = e.queue
        call.started[e.id] = e.at
        self._live_uniqueid[e.id] = e.uniqueid
        if call.home_queue is None and is_personal_queue(e.queue):
            call.home_queue = self._home_queue(e.queue)
        call.caller_key = call.caller_key or e.caller_key
        call.caller_num = call.caller_num or e.caller_num
        call.caller_name = call.caller_name or e.caller_name
        self._link(call, e.callback_of, e.callback_call)
        if call.repeat_of is None and e.repeat_call is not None:
            call.repeat_of = e.repeat_call
        self._by_uniqueid[e.uniqueid] = e.linkedid
        pending = self._decisions.pop(e.uniqueid, None)
        if pending is not None:
            self._take_decision(call, pending)
        call.last_change = now
        return call

    def _finished(self, rec: CallRecord, now: float) -> OpenCall:
        call = self._call(rec.linkedid, rec.joined_at)
        call.started.pop(rec.id, None)
        self._live_uniqueid.pop(rec.id, None)
        if call.live.pop(rec.id, None) is None:
            # queue_log told the entry's true number after acd adopted it under another
            for entry_id, queue in list(call.live.items()):
                if queue == rec.queue and self._live_uniqueid.get(entry_id) == rec.uniqueid:
                    del call.live[entry_id], self._live_uniqueid[entry_id], call.started[entry_id]
        call.entries = [e for e in call.entries if e.id != rec.id]
        call.entries.append(rec)
        call.entries.sort(key=lambda r: (r.joined_at, r.entry))
        # An entry's record may correct its start (an adopted call, once Asterisk told its times).
        call.joined_at = min([r.joined_at for r in call.entries] + list(call.started.values()))
        call.caller_key = call.caller_key or rec.caller_key
        call.caller_num = call.caller_num or rec.caller_num
        call.caller_name = call.caller_name or rec.caller_name
        call.account = call.account or rec.account
        if call.home_queue is None and is_personal_queue(rec.queue):
            call.home_queue = self._home_queue(rec.queue)
        self._link(call, rec.callback_of, None)
        if call.repeat_of is None and rec.repeat_of is not None:
            earlier = self._known.get(rec.repeat_of)
            call.repeat_of = earlier.linkedid if earlier is not None else None
        self._by_uniqueid.setdefault(rec.uniqueid, rec.linkedid)
        if not self._channels_live(rec.linkedid):
            call.channels_gone = True  # its channels hung up before the entry's record was out
        call.last_change = now
        return call

    def _decided(self, d: AffinityDecided) -> OpenCall | None:
        linkedid = d.linkedid if d.linkedid in self.open else self._by_uniqueid.get(d.uniqueid)
        call = self.open.get(linkedid) if linkedid is not None else None
        if call is None:
            self._decisions[d.uniqueid] = d  # the decision came before the caller's first entry
            return None
        self._take_decision(call, d)
        return call

    @staticmethod
    def _take_decision(call: OpenCall, d: AffinityDecided) -> None:
        if d.queue and not is_personal_queue(d.queue):
            call.asked_queue = d.queue
        call.routing = d.reason

    # ------------------------------------------------------------------ building

    def _know(self, entry_id: str, known: _Known) -> None:
        self._known[entry_id] = known
        self._known_order.append((known.ended_at, entry_id))

    def _emit(self, calls: Iterable[OpenCall], now: float, out: list[Effect]) -> None:
        for call in calls:
            if call.final:
                continue
            if call.channels_gone and not call.live and call.entries:
                call.final = True
            legs = legs_of(call)
            update = customer_call_updated(call, legs, now)
            out.append(update)
            for leg in legs:
                if leg.decided and leg.record.id not in call.settled:
                    call.settled.add(leg.record.id)
                    out.append(
                        LegSettled(
                            leg.record,
                            leg.queue or leg.record.queue,
                            leg.counted,
                            leg.wait,
                            callback_result(call, leg.record),
                        )
                    )
            queue = update.call.queue  # a callback's original queue: the one this call counts under
            for rec in call.entries:
                if rec.id not in self._known:
                    known = _Known(
                        call.linkedid, call.chain_id, call.chain_seq, rec.agent, queue, rec.ended_at
                    )
                    self._know(rec.id, known)
            if call.final:
                self._forget(call)

    def _forget(self, call: OpenCall) -> None:
        del self.open[call.linkedid]
        if call.origin is not None and call.origin_arrival is None:
            # its origin's first arrival is still to come (the origin server writes it late)
            self._unarrived[call.origin] = (call, call.joined_at)
        for rec in call.entries:
            if self._by_uniqueid.get(rec.uniqueid) == call.linkedid:
                del self._by_uniqueid[rec.uniqueid]


def customer_calls_of(effects: Iterable[Effect], config: CoreConfig | None = None) -> list[Effect]:
    """Run the stage over recorded effects in order, every call taken as final at the end: the
    customer calls a capture or a test's records make (channels are taken as alive until then)."""
    stage = CustomerCalls(config or CoreConfig(), channels_live=lambda _: True)
    out: list[Effect] = []
    now = 0.0
    for effect in effects:
        at = effect.record.ended_at if isinstance(effect, CallFinished) else getattr(effect, "at", None)
        if isinstance(at, float) and at > now:
            now = at
        out.extend(stage.observe([effect], now))
    out.extend(stage.channels_gone(list(stage.open), now))
    return out
