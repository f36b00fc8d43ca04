"""The reads as they were before acd recorded customer calls, frozen for bench_kpi.py's "before":
the window KPI query (correlated sub-queries folding personal legs and finding each call's closing
leg at read time) and ``acd report``'s loader and arithmetic (every entry of the period loaded and
folded in Python). Not used by acd; kept only so one run measures before and after side by side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.definitions import WINDOWS, is_personal_queue
from acd.metrics.kpi import Kpis, WindowKpi
from acd.settings import Settings
from acd.store.purge import repeat_flags
from acd.store.schema.base import table_of
from acd.store.schema.outcomes import Outcome, credits, outcomes
from acd.store.schema.records import Call, calls, decisions


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

    for credit in credits:
        if credit.linkedid not in credited_calls:
            continue
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


# ---- acd report's loader


_CHUNK = 500


def _row(r: Row[Any]) -> CallRow:
    return CallRow(
        call_id=r.call_id,
        linkedid=r.linkedid,
        queue=r.queue,
        joined_at=r.joined_at,
        ended_at=r.ended_at,
        answered_at=r.answered_at,
        outcome=r.outcome,
        agent=r.agent,
        agent_name=r.agent_name,
        wait_seconds=r.wait_seconds,
        talk_seconds=r.talk_seconds,
        cut_off=bool(r.cut_off),
        agent_released_short=bool(r.agent_released_short),
        callback_of=r.callback_of,
        routing=r.routing,
        caller_key=r.caller_key,
        purged=r.purged_at is not None,
        repeat_frozen=bool(r.repeat_frozen),
        frozen=(r.repeat_24h, r.repeat_7d, r.repeat_30d),
    )


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


async def load_report(
    engine: AsyncEngine, settings: Settings, since: float, until: float, now: float
) -> Report:
    horizon = min(until + max(WINDOWS.values()), now)
    server = settings.server_id
    async with engine.connect() as conn:
        rows = [
            _row(r)
            for r in await conn.execute(
                select(calls).where(
                    calls.c.server_id == server,
                    calls.c.joined_at >= since,
                    calls.c.joined_at <= max(horizon, until),
                )
            )
        ]
        have = {r.call_id for r in rows}
        wanted = sorted({r.callback_of for r in rows if r.callback_of and r.callback_of not in have})
        for chunk in _chunks(wanted):
            rows.extend(
                _row(r)
                for r in await conn.execute(
                    select(calls).where(calls.c.server_id == server, calls.c.call_id.in_(chunk))
                )
            )
        personal = sorted({r.call_id.partition("#")[0] for r in rows if is_personal_queue(r.queue)})
        asked: dict[str, str] = {}
        for chunk in _chunks(personal):
            for d in await conn.execute(
                select(decisions.c.uniqueid, decisions.c.queue).where(
                    decisions.c.server_id == server, decisions.c.uniqueid.in_(chunk)
                )
            ):
                asked[d.uniqueid] = d.queue
        if asked:
            rows = [
                replace(r, asked_queue=asked.get(r.call_id.partition("#")[0]))
                if is_personal_queue(r.queue)
                else r
                for r in rows
            ]
        in_period = sorted({r.linkedid for r in rows if since <= r.joined_at < until})
        notes: dict[str, bool] = {}
        credit_rows: list[CreditRow] = []
        for chunk in _chunks(in_period):
            for o in await conn.execute(
                select(outcomes.c.linkedid, outcomes.c.notes, outcomes.c.notes_purged)
                .where(outcomes.c.server_id == server, outcomes.c.linkedid.in_(chunk))
                .order_by(outcomes.c.written_at, outcomes.c.id)
            ):
                notes[o.linkedid] = bool(o.notes and o.notes.strip()) or bool(o.notes_purged)
            credit_rows.extend(
                CreditRow(c.linkedid, c.agent, c.agent_name, c.points, c.reason)
                for c in await conn.execute(
                    select(credits).where(credits.c.server_id == server, credits.c.linkedid.in_(chunk))
                )
            )

    def rules(queue: str) -> QueueRules:
        q = settings.queue(queue)
        return QueueRules(q.service_level_seconds, q.short_abandon_seconds, q.wrapup_seconds)

    return compute_report(
        rows, since=since, until=until, now=now, rules=rules, notes=notes, credits=credit_rows
    )


# ---- the window KPI query


_FROZEN = {"24h": "repeat_24h", "7d": "repeat_7d", "30d": "repeat_30d"}
_COUNTS = ("legs", "answered", "in_sl", "short", "cut", "closing", "noted")
Counts = dict[str, dict[str, dict[str, int]]]  # key (queue or agent) -> window -> count name -> n
Repeats = dict[str, dict[str, tuple[int, int]]]  # key -> window -> (decided, repeats)


def _per_queue_and_agent(rows: Any, sums: list[Any]) -> Any:
    """The same sums grouped by queue and by agent, in one statement over one materialized CTE:
    a few hundred result rows instead of one per (queue, agent) pair."""
    by_queue = select(literal("queue").label("kind"), rows.c.queue.label("key"), *sums).group_by(rows.c.queue)
    by_agent = (
        select(literal("agent").label("kind"), rows.c.agent.label("key"), *sums)
        .where(rows.c.agent.is_not(None))
        .group_by(rows.c.agent)
    )
    return union_all(by_queue, by_agent)


class LegacyKpiSource:
    """``KpiSource`` over the store's tables. ``period``: how many seconds of closed-window calls
    make up the repeat-contact population (default one day)."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        server_id: str | None = None,
        period: float = 86400.0,
        windows: Mapping[str, float] = WINDOWS,
    ) -> None:
        unknown = set(windows) - set(_FROZEN)
        if unknown:
            raise ValueError(f"unsupported KPI window(s) {sorted(unknown)}; known: {sorted(_FROZEN)}")
        self.engine = engine
        self.settings = settings
        self.server_id = server_id or settings.server_id
        self.period = period
        self.windows = dict(windows)

    # ------------------------------------------------------------------ query pieces
    def _legs(
        self,
    ) -> tuple[Any, Any, ColumnElement[Any], ColumnElement[Any], ColumnElement[bool], ColumnElement[bool]]:
        """(the entry alias, from clause, queue expression, wait-from-first-arrival, leg condition,
        closing-leg condition)."""
        calls = table_of(Call)
        c = calls.alias("c")
        orig = calls.alias("orig")
        p = calls.alias("p")
        s = calls.alias("s")
        nxt = calls.alias("nxt")
        first_join = (
            select(func.min(p.c.joined_at))
            .where(p.c.server_id == c.c.server_id, p.c.linkedid == c.c.linkedid)
            .scalar_subquery()
        )
        shared_sibling = exists().where(
            s.c.server_id == c.c.server_id,
            s.c.linkedid == c.c.linkedid,
            s.c.personal == false(),
        )
        source = c.outerjoin(
            orig,
            and_(
                orig.c.server_id == c.c.server_id,
                orig.c.call_id == c.c.callback_of,
                orig.c.personal == false(),
            ),
        )
        queue = case((c.c.personal == true(), orig.c.queue), else_=c.c.queue)
        wait = case(
            (c.c.answered_at.is_not(None), c.c.answered_at - first_join),
            else_=c.c.ended_at - first_join,
        )
        is_leg = or_(
            c.c.personal == false(),
            and_(c.c.outcome == "answered", ~shared_sibling, orig.c.queue.is_not(None)),
        )
        answered_later = exists().where(
            nxt.c.server_id == c.c.server_id,
            nxt.c.linkedid == c.c.linkedid,
            nxt.c.personal == false(),
            nxt.c.outcome == "answered",
            or_(
                nxt.c.joined_at > c.c.joined_at,
                and_(nxt.c.joined_at == c.c.joined_at, nxt.c.entry > c.c.entry),
            ),
        )
        closing = and_(c.c.outcome == "answered", ~answered_later)
        return c, source, queue, wait, is_leg, closing

    def _per_queue(self, queue: ColumnElement[Any], field: str) -> ColumnElement[Any]:
        default = getattr(self.settings.queue_defaults, field)
        overrides = {name: getattr(self.settings.queue(name), field) for name in self.settings.queues}
        if not overrides:
            return literal(default)
        return case(overrides, value=queue, else_=literal(default))

    # ------------------------------------------------------------------ compute
    async def compute(self, now: float) -> Kpis:
        queues: dict[str, dict[str, WindowKpi]] = defaultdict(dict)
        agents: dict[str, dict[str, WindowKpi]] = defaultdict(dict)
        async with self.engine.connect() as conn:
            period_rows = (await conn.execute(self._period_query(now))).all()
            repeat_rows = {w: (await conn.execute(self._repeat_query(now, w))).all() for w in self.windows}
        # Rows are already grouped per queue and per agent (a few hundred), so folding them here
        # costs the loop well under a millisecond.
        per_queue, per_agent = self._fold_period(period_rows)
        rep_queue, rep_agent = self._fold_repeats(repeat_rows)
        for target, base, reps in ((queues, per_queue, rep_queue), (agents, per_agent, rep_agent)):
            for key in set(base) | set(reps):
                for window in self.windows:
                    counts = base.get(key, {}).get(window)
                    rep = reps.get(key, {}).get(window)
                    target[key][window] = self._window_kpi(counts, rep)
        return Kpis(at=now, queues=dict(queues), agents=dict(agents))

    def _period_query(self, now: float) -> Any:
        """Per-leg values computed once (a materialized CTE, so the correlated lookups are not
        repeated for every window's sums), then conditional sums per window."""
        outcomes = table_of(Outcome)
        latest_of = outcomes.alias("latest_of")
        c, source, queue, wait, is_leg, closing = self._legs()
        longest = max(self.windows.values())
        latest_at = (
            select(func.max(latest_of.c.written_at))
            .where(latest_of.c.server_id == outcomes.c.server_id, latest_of.c.linkedid == outcomes.c.linkedid)
            .scalar_subquery()
        )
        noted = exists().where(
            outcomes.c.server_id == c.c.server_id,
            outcomes.c.linkedid == c.c.linkedid,
            outcomes.c.written_at == latest_at,
            # Notes erased by `acd purge` existed: completeness must not drop after a purge.
            or_(
                func.length(func.trim(func.coalesce(outcomes.c.notes, ""))) > 0,
                outcomes.c.notes_purged == true(),
            ),
        )
        answered = c.c.outcome == "answered"
        legs = (
            select(
                queue.label("queue"),
                c.c.agent_name.label("agent"),
                c.c.joined_at.label("joined_at"),
                c.c.outcome.label("outcome"),
                wait.label("wait"),
                case((and_(answered, c.c.cut_off == true()), 1), else_=0).label("cut"),
                case((closing, 1), else_=0).label("closing"),
                case((and_(answered, noted), 1), else_=0).label("noted"),
            )
            .select_from(source)
            .where(
                c.c.server_id == self.server_id, c.c.joined_at >= now - longest, c.c.joined_at <= now, is_leg
            )
            .cte("legs")
            .prefix_with("MATERIALIZED")
        )
        leg_answered = legs.c.outcome == "answered"
        threshold = self._per_queue(legs.c.queue, "service_level_seconds")
        short_limit = self._per_queue(legs.c.queue, "short_abandon_seconds")
        conditions: dict[str, ColumnElement[bool]] = {
            "legs": true(),
            "answered": leg_answered,
            "in_sl": and_(leg_answered, legs.c.wait <= threshold),
            "short": and_(legs.c.outcome == "abandoned", legs.c.wait < short_limit),
            "cut": legs.c.cut == 1,
            "closing": legs.c.closing == 1,
            "noted": and_(legs.c.closing == 1, legs.c.noted == 1),
        }
        sums: list[Any] = []
        for name, width in self.windows.items():
            inside = legs.c.joined_at >= now - width
            sums += [
                func.sum(case((and_(inside, cond), 1), else_=0)).label(f"{label}_{name}")
                for label, cond in conditions.items()
            ]
        return _per_queue_and_agent(legs, sums)

    def _repeat_query(self, now: float, window: str) -> Any:
        calls = table_of(Call)
        width = self.windows[window]
        c, source, queue, _, is_leg, closing = self._legs()
        later = calls.alias("later")
        followed = exists().where(
            later.c.server_id == c.c.server_id,
            later.c.caller_key == c.c.caller_key,
            later.c.linkedid != c.c.linkedid,
            later.c.joined_at > c.c.ended_at,
            later.c.joined_at <= c.c.ended_at + width,
        )
        frozen = c.c[_FROZEN[window]]
        repeat = case(
            (c.c.purged_at.is_not(None), case((frozen == true(), 1), else_=0)), (followed, 1), else_=0
        )
        known = or_(c.c.caller_key.is_not(None), and_(c.c.purged_at.is_not(None), frozen.is_not(None)))
        population = (
            select(queue.label("queue"), c.c.agent_name.label("agent"), repeat.label("repeat"))
            .select_from(source)
            .where(
                c.c.server_id == self.server_id,
                closing,
                c.c.ended_at >= now - width - self.period,
                c.c.ended_at < now - width,
                known,
                is_leg,
            )
            .cte(f"population_{window}")
            .prefix_with("MATERIALIZED")
        )
        sums = [func.count().label("decided"), func.sum(population.c.repeat).label("repeats")]
        return _per_queue_and_agent(population, sums)

    # ------------------------------------------------------------------ folding rows
    def _fold_period(self, rows: Sequence[Any]) -> tuple[Counts, Counts]:
        per_queue: Counts = defaultdict(dict)
        per_agent: Counts = defaultdict(dict)
        for row in rows:
            m = row._mapping
            target = per_queue if m["kind"] == "queue" else per_agent
            for window in self.windows:
                counts = {k: int(m[f"{k}_{window}"] or 0) for k in _COUNTS}
                if target is per_agent:  # service level is a queue number, not an agent's
                    for k in ("legs", "short", "in_sl"):
                        del counts[k]
                target[m["key"]][window] = counts
        return per_queue, per_agent

    def _fold_repeats(self, rows: Mapping[str, Sequence[Any]]) -> tuple[Repeats, Repeats]:
        per_queue: Repeats = defaultdict(dict)
        per_agent: Repeats = defaultdict(dict)
        for window, window_rows in rows.items():
            for row in window_rows:
                m = row._mapping
                target = per_queue if m["kind"] == "queue" else per_agent
                target[m["key"]][window] = (int(m["decided"] or 0), int(m["repeats"] or 0))
        return per_queue, per_agent

    @staticmethod
    def _window_kpi(counts: Mapping[str, int] | None, rep: tuple[int, int] | None) -> WindowKpi:
        counts = counts or {}
        answered = counts.get("answered", 0)
        repeat_ratio = _ratio(rep[1], rep[0]) if rep is not None else None
        sl_base = counts.get("legs", 0) - counts.get("short", 0)
        return WindowKpi(
            answered=answered,
            service_level=_ratio(counts.get("in_sl", 0), sl_base) if "legs" in counts else None,
            repeat_contact_ratio=repeat_ratio,
            fcr=None if repeat_ratio is None else 1.0 - repeat_ratio,
            cutoff_ratio=_ratio(counts.get("cut", 0), answered),
            notes_completeness=_ratio(counts.get("noted", 0), counts.get("closing", 0)),
        )
