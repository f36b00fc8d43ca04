"""The report's arithmetic (pure: rows in, numbers out). Definitions, after DESIGN.md:

* A customer call is the entries sharing a Linkedid. Its *legs* are its shared-queue entries; an
  entry in a personal affinity queue (``acd-agent-*``) is folded into the shared-queue entry that
  follows it (else the one before it). A call that only ever reached a personal queue is reported
  under the shared queue its routing decision names, else that of the cut-off call it is a
  callback of, else the shared queue its agent answers
  most in the data, else the only shared queue there is. A leg's wait runs from the first arrival
  of the entries folded into it, so an affinity wait is never hidden.
* offered: legs that arrived in the period. answered / abandoned / exited by the leg's outcome.
  abandoned counts long abandons only; short ones (wait < the queue's short-abandon limit) are
  shown apart and left out of the service-level base.
* service level: answered within the queue's threshold / (offered - short abandons).
* ASA: mean wait of answered legs. AHT: mean talk of answered legs + the queue's wrap-up seconds.
* cut-offs: answered legs that were cut off. callbacks: legs that are a callback of a cut-off
  call, by routing result (the recorded affinity decision when there is one, else whether the
  original agent, another agent or nobody answered).
* repeat contacts, per window W in 24 h / 7 d / 30 d: an answered customer call is a repeat when
  another call from the same caller key arrives within W after it ended; charged to the agent who
  answered the first call. While W has not elapsed and no repeat came, the call is *pending*, not a
  non-repeat. rate = repeats / decided calls; FCR = 1 - rate. Calls without a caller key
  (anonymous) are excluded; calls whose key was purged use the flags frozen at purge time.
* without notes: answered customer calls whose latest outcome has no notes (or no outcome at all).
* credit: points from the credit rows of the period's customer calls.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from acd.store.models import is_personal_queue

__all__ = [
    "WINDOWS",
    "CallRow",
    "CreditRow",
    "Leg",
    "QueueRules",
    "Report",
    "compute_report",
    "fold_legs",
    "repeat_flags",
]

WINDOWS: dict[str, float] = {"24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}


@dataclass(frozen=True, slots=True)
class CallRow:
    call_id: str
    linkedid: str
    queue: str
    joined_at: float
    ended_at: float
    answered_at: float | None
    outcome: str
    agent: str | None
    agent_name: str | None
    wait_seconds: float
    talk_seconds: float
    cut_off: bool
    agent_released_short: bool
    callback_of: str | None
    routing: str | None
    caller_key: str | None
    purged: bool = False
    repeat_frozen: bool = False
    asked_queue: str | None = None  # the shared queue named by the call's routing decision
    frozen: tuple[bool | None, bool | None, bool | None] = (None, None, None)  # 24h, 7d, 30d


@dataclass(frozen=True, slots=True)
class CreditRow:
    linkedid: str
    agent: str
    agent_name: str | None
    points: float
    reason: str


@dataclass(frozen=True, slots=True)
class QueueRules:
    service_level_seconds: float
    short_abandon_seconds: float
    wrapup_seconds: float


@dataclass(frozen=True, slots=True)
class Leg:
    linkedid: str
    queue: str
    joined_at: float
    answered: bool
    outcome: str
    agent: str | None
    agent_name: str | None
    wait_seconds: float
    talk_seconds: float
    cut_off: bool
    agent_released_short: bool
    callback_of: str | None
    routing: str | None


@dataclass
class Report:
    since: float
    until: float
    now: float
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": {"from": self.since, "to": self.until, "now": self.now},
            "queues": self.queues,
            "agents": self.agents,
        }


def _make_leg(entries: Sequence[CallRow], queue: str) -> Leg:
    first = min(e.joined_at for e in entries)
    answered = [e for e in entries if e.answered_at is not None]
    last = max(entries, key=lambda e: (e.joined_at, e.ended_at))
    if answered:
        closer = answered[-1]
        assert closer.answered_at is not None
        wait = closer.answered_at - first
    else:
        closer = last
        wait = max(e.ended_at for e in entries) - first
    return Leg(
        linkedid=entries[0].linkedid,
        queue=queue,
        joined_at=first,
        answered=bool(answered),
        outcome="answered" if answered else last.outcome,
        agent=closer.agent if answered else None,
        agent_name=closer.agent_name if answered else None,
        wait_seconds=max(wait, 0.0),
        talk_seconds=sum(e.talk_seconds for e in entries),
        cut_off=any(e.cut_off for e in answered),
        agent_released_short=any(e.agent_released_short for e in answered),
        callback_of=next((e.callback_of for e in entries if e.callback_of), None),
        routing=next((e.routing for e in entries if e.routing), None),
    )


def fold_legs(
    entries: Sequence[CallRow], fallback_queue: Callable[[Sequence[CallRow]], str | None]
) -> list[Leg]:
    """One customer call's entries -> its legs (personal-queue entries folded, see module doc)."""
    ordered = sorted(entries, key=lambda e: (e.joined_at, e.call_id))
    groups: list[list[CallRow]] = []
    pending: list[CallRow] = []
    for entry in ordered:
        if is_personal_queue(entry.queue):
            pending.append(entry)
            continue
        groups.append([*pending, entry])
        pending = []
    if pending:
        if groups:
            groups[-1].extend(pending)
        else:
            return [_make_leg(pending, fallback_queue(pending) or pending[0].queue)]
    return [
        _make_leg(group, next(e.queue for e in group if not is_personal_queue(e.queue))) for group in groups
    ]


def repeat_flags(ended_at: float, later_arrivals: Sequence[float], now: float) -> dict[str, bool | None]:
    """For one answered call: repeat within each window (True/False), or None while still open.
    ``later_arrivals`` are the sorted arrival times of the same caller's other calls."""
    index = bisect.bisect_right(later_arrivals, ended_at)
    following = later_arrivals[index] if index < len(later_arrivals) else None
    flags: dict[str, bool | None] = {}
    for name, width in WINDOWS.items():
        if following is not None and following - ended_at <= width:
            flags[name] = True
        elif now >= ended_at + width:
            flags[name] = False
        else:
            flags[name] = None
    return flags


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _repeat_block() -> dict[str, dict[str, Any]]:
    return {name: {"repeats": 0, "decided": 0, "pending": 0} for name in WINDOWS}


def _finish_repeats(block: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, float | None]]:
    fcr: dict[str, float | None] = {}
    for name, counts in block.items():
        rate = _ratio(counts["repeats"], counts["decided"])
        counts["rate"] = rate
        fcr[name] = None if rate is None else 1.0 - rate
    return block, fcr


def compute_report(
    rows: Iterable[CallRow],
    *,
    since: float,
    until: float,
    now: float,
    rules: Callable[[str], QueueRules],
    notes: dict[str, bool],
    credits: Sequence[CreditRow],
) -> Report:
    """``rows``: every entry that joined in [since, min(until + 30 d, now)] plus the cut-off calls
    their callbacks name; ``notes``: Linkedid -> latest outcome has notes."""
    by_call: dict[str, list[CallRow]] = defaultdict(list)
    by_id: dict[str, CallRow] = {}
    for row in rows:
        by_call[row.linkedid].append(row)
        by_id[row.call_id] = row

    agent_queues: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    shared_queues: set[str] = set()
    for row in by_id.values():
        if not is_personal_queue(row.queue):
            shared_queues.add(row.queue)
            if row.agent is not None and row.answered_at is not None:
                agent_queues[row.agent][row.queue] += 1

    def shared_queue_for(entries: Sequence[CallRow]) -> str | None:
        asked = next((e.asked_queue for e in entries if e.asked_queue), None)
        if asked is not None:
            return asked
        callback_of = next((e.callback_of for e in entries if e.callback_of), None)
        original = by_id.get(callback_of) if callback_of else None
        if original is not None and not is_personal_queue(original.queue):
            return original.queue
        agent = next((e.agent for e in entries if e.agent), None)
        if agent is not None and agent_queues.get(agent):
            counts = agent_queues[agent]
            return max(sorted(counts), key=lambda q: counts[q])
        return next(iter(shared_queues)) if len(shared_queues) == 1 else None

    legs_by_call = {linkedid: fold_legs(entries, shared_queue_for) for linkedid, entries in by_call.items()}
    arrivals: dict[str, list[float]] = defaultdict(list)
    for entries in by_call.values():
        key = next((e.caller_key for e in entries if e.caller_key), None)
        if key is not None:
            arrivals[key].append(min(e.joined_at for e in entries))
    for times in arrivals.values():
        times.sort()

    report = Report(since, until, now)
    queues: dict[str, dict[str, Any]] = {}
    agents: dict[str, dict[str, Any]] = {}
    q_waits: dict[str, list[float]] = defaultdict(list)
    q_talks: dict[str, list[float]] = defaultdict(list)
    a_talks: dict[str, list[float]] = defaultdict(list)
    q_repeats: dict[str, dict[str, dict[str, Any]]] = defaultdict(_repeat_block)
    a_repeats: dict[str, dict[str, dict[str, Any]]] = defaultdict(_repeat_block)
    credited_calls: set[str] = set()

    def queue_stats(name: str) -> dict[str, Any]:
        if name not in queues:
            queues[name] = {
                "offered": 0, "answered": 0, "abandoned": 0, "abandoned_short": 0, "exited": 0,
                "answered_in_sl": 0, "cut_offs": 0, "callbacks": 0, "callbacks_by_routing": {},
                "without_notes": 0, "credit_points": 0.0,
            }  # fmt: skip
        return queues[name]

    def agent_stats(leg: Leg) -> dict[str, Any]:
        name = leg.agent_name or leg.agent or "?"
        if name not in agents:
            agents[name] = {
                "agent": leg.agent, "answered": 0, "talk_seconds": 0.0, "cut_offs": 0,
                "agent_released_short": 0, "callbacks_taken": 0, "callbacks_of_own_cut_offs": 0,
                "without_notes": 0, "credit_points": 0.0,
            }  # fmt: skip
        return agents[name]

    agent_names: dict[str, str] = {}
    for linkedid, legs in legs_by_call.items():
        for leg in legs:
            if not since <= leg.joined_at < until:
                continue
            credited_calls.add(linkedid)
            rule = rules(leg.queue)
            q = queue_stats(leg.queue)
            q["offered"] += 1
            if leg.answered:
                q["answered"] += 1
                q_waits[leg.queue].append(leg.wait_seconds)
                q_talks[leg.queue].append(leg.talk_seconds)
                if leg.wait_seconds <= rule.service_level_seconds:
                    q["answered_in_sl"] += 1
                q["cut_offs"] += int(leg.cut_off)
                a = agent_stats(leg)
                agent_names[leg.agent or ""] = leg.agent_name or leg.agent or "?"
                a["answered"] += 1
                a["talk_seconds"] += leg.talk_seconds
                a_talks[leg.agent_name or leg.agent or "?"].append(leg.talk_seconds)
                a["cut_offs"] += int(leg.cut_off)
                a["agent_released_short"] += int(leg.agent_released_short)
            elif leg.outcome == "abandoned":
                if leg.wait_seconds < rule.short_abandon_seconds:
                    q["abandoned_short"] += 1
                else:
                    q["abandoned"] += 1
            else:
                q["exited"] += 1
            if leg.callback_of is not None:
                original = by_id.get(leg.callback_of)
                result = leg.routing or _routing_result(leg, original)
                q["callbacks"] += 1
                q["callbacks_by_routing"][result] = q["callbacks_by_routing"].get(result, 0) + 1
                if leg.answered:
                    agent_stats(leg)["callbacks_taken"] += 1
                    if original is not None and original.agent == leg.agent:
                        agent_stats(leg)["callbacks_of_own_cut_offs"] += 1

        # Customer-call level: repeat contacts and notes, charged to the answering leg's queue/agent.
        answered_legs = [leg for leg in legs if leg.answered]
        if not answered_legs or not since <= answered_legs[0].joined_at < until:
            continue
        closing = answered_legs[-1]
        entries = by_call[linkedid]
        if not notes.get(linkedid, False):
            queue_stats(closing.queue)["without_notes"] += 1
            agent_stats(closing)["without_notes"] += 1
        flags = _call_repeat_flags(entries, arrivals, now)
        if flags is None:
            continue  # anonymous caller: excluded from repeat counts
        for block in (q_repeats[closing.queue], a_repeats[closing.agent_name or closing.agent or "?"]):
            for name, flag in flags.items():
                if flag is None:
                    block[name]["pending"] += 1
                else:
                    block[name]["decided"] += 1
                    block[name]["repeats"] += int(flag)

    for credit in credits:  # the sales dated in the period (acd/core/credit.py)
        name = credit.agent_name or agent_names.get(credit.agent) or credit.agent
        agents.setdefault(
            name,
            {
                "agent": credit.agent, "answered": 0, "talk_seconds": 0.0, "cut_offs": 0,
                "agent_released_short": 0, "callbacks_taken": 0, "callbacks_of_own_cut_offs": 0,
                "without_notes": 0, "credit_points": 0.0,
            },
        )["credit_points"] += credit.points  # fmt: skip
        legs = legs_by_call.get(credit.linkedid, [])
        answered_legs = [leg for leg in legs if leg.answered]
        if answered_legs:
            queue_stats(answered_legs[-1].queue)["credit_points"] += credit.points

    for name, q in queues.items():
        rule = rules(name)
        base = q["offered"] - q["abandoned_short"]
        q["service_level"] = _ratio(q.pop("answered_in_sl"), base)
        q["service_level_seconds"] = rule.service_level_seconds
        q["asa_seconds"] = _mean(q_waits[name])
        mean_talk = _mean(q_talks[name])
        q["aht_seconds"] = None if mean_talk is None else mean_talk + rule.wrapup_seconds
        q["repeat_contacts"], q["fcr"] = _finish_repeats(q_repeats[name])
    for name, a in agents.items():
        mean_talk = _mean(a_talks[name])
        a["aht_seconds"] = mean_talk
        a["repeat_contacts"], a["fcr"] = _finish_repeats(a_repeats[name])
    report.queues = dict(sorted(queues.items()))
    report.agents = dict(sorted(agents.items()))
    return report


def _routing_result(leg: Leg, original: CallRow | None) -> str:
    if not leg.answered:
        return "unanswered"
    if original is not None and original.agent is not None and original.agent == leg.agent:
        return "reached_original"
    return "other_agent"


def _call_repeat_flags(
    entries: Sequence[CallRow], arrivals: dict[str, list[float]], now: float
) -> dict[str, bool | None] | None:
    key = next((e.caller_key for e in entries if e.caller_key), None)
    ended = max(e.ended_at for e in entries)
    if key is not None:
        return repeat_flags(ended, arrivals[key], now)
    frozen_rows = [e for e in entries if e.purged and e.repeat_frozen]
    if not frozen_rows:
        return None  # anonymous, before or after a purge
    frozen = frozen_rows[0].frozen
    return dict(zip(WINDOWS, frozen, strict=True))
