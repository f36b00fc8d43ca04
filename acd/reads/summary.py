"""Per-queue and per-agent numbers over periods: the one read behind ``acd report``, the API's
agent summary, the window KPIs on ``/metrics`` and the pages. Plain GROUP BYs over what the core
recorded (acd/core/customer.py); nothing is re-derived here, so every reader gets the same figure.

For a period [from, to):

* **Legs** (queue entries counted as legs, ``calls.leg_counted``) that arrived in the period, under
  the queue they are reported in: offered, answered, abandoned (short ones apart: a wait under the
  queue's ``short_abandon_seconds``), exited; service level = answered within the queue's threshold
  / (legs whose wait is known - short abandons); ASA = mean known wait of answered legs (a wait
  Asterisk never told is left out of both, never counted as 0); AHT = mean talk + the queue's
  wrap-up (an agent's: mean talk); cut-offs and agent-released short calls of answered legs.
* **Customer calls** that arrived in the period and have ended, under their queue and the agent who
  closed them: answered calls, without notes (no outcome, or empty notes), trivial notes, marked
  resolved (shown beside FCR, never in it), dispositions of the answered ones (``none``: no outcome
  posted), callbacks (by result, by routing reason).
* **Repeat contacts and FCR**, per window W (acd/core/definitions.py): the base is the answered
  customer calls with a known caller key, not exempt, that *ended* in [from - W, to - W); a repeat
  is one whose next contact from the same key began within W of its end; FCR_W = 1 - repeats/base.
  Those that ended in [to - W, to) are *pending* and never enter the ratio; an empty base is "no
  data" (None), never 0 %. Charged to the queue and agent of the base call.
* **Credit**: the shares of the sales dated in the period (acd/core/credit.py), by attribution;
  adjusted shares and disputed sales are counted.

Rows an older acd wrote before customer calls were recorded, and not backfilled yet, count each
entry as a leg of its own, under its own queue, with its own wait; they are absent from the
customer-call numbers, and the summary says how many there are (``unfilled``).

Several periods are computed in one pass over each table (the KPI refresher asks for 24 h, 7 d and
30 d at once), so every period of one refresh comes from the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.core.definitions import WINDOWS
from acd.settings import Settings
from acd.store.models import Call, CustomerCallRow, SaleCredit, table_of
from acd.store.models import Sale as SaleRow

__all__ = ["Period", "Report", "agent_summary", "load_report", "summarize"]

calls = table_of(Call)
customer_calls = table_of(CustomerCallRow)
sale_credits = table_of(SaleCredit)
sales = table_of(SaleRow)


@dataclass(frozen=True, slots=True)
class Period:
    since: float
    until: float


@dataclass
class Report:
    """One period's numbers: ``queues[queue]`` and ``agents[agent]`` (the agent's state interface;
    its display name is ``agents[agent]["name"]``). ``unfilled``: entry rows of the period not yet
    backfilled (see the module docstring)."""

    since: float
    until: float
    now: float
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    unfilled: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": {"from": self.since, "to": self.until, "now": self.now},
            "queues": self.queues,
            "agents": self.agents,
            "unfilled": self.unfilled,
        }


_LEG_SUMS = (
    "offered",
    "answered",
    "abandoned",
    "abandoned_short",
    "exited",
    "wait_known",
    "wait_unknown",
    "answered_in_sl",
    "wait_sum",
    "wait_n",
    "talk_seconds",
    "cut_offs",
    "agent_released_short",
)
_CALL_SUMS = (
    "answered_calls",
    "without_notes",
    "trivial_notes",
    "resolved",
    "callbacks",
    "callbacks_taken",
    "callbacks_of_own_cut_offs",
)


def _queue_stats() -> dict[str, Any]:
    return {
        **{name: 0 for name in _LEG_SUMS},
        **{name: 0 for name in _CALL_SUMS},
        "callbacks_by_result": {},
        "callbacks_by_routing": {},
        "dispositions": {},
        "repeats": {w: [0, 0, 0] for w in WINDOWS},  # repeats, decided, pending
        "credit": {},
        "credit_adjusted": 0,
        "credit_disputed": 0,
        "name": None,
    }


def _per_queue(settings: Settings, queue: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    """A queue setting as SQL (the operator's per-queue overrides as a CASE over the queue)."""
    default = getattr(settings.queue_defaults, name)
    overrides = {q: getattr(settings.queue(q), name) for q in settings.queues}
    if not overrides:
        return literal(default)
    return case(overrides, value=queue, else_=literal(default))


def _between(column: ColumnElement[Any], since: float, until: float) -> ColumnElement[bool]:
    return and_(column >= since, column < until)


def _count(condition: ColumnElement[bool], label: str) -> Any:
    return func.sum(case((condition, 1), else_=0)).label(label)


def _total(condition: ColumnElement[bool], value: ColumnElement[Any], label: str) -> Any:
    return func.sum(case((condition, value), else_=0.0)).label(label)


async def _legs(
    conn: AsyncConnection, settings: Settings, server_id: str, periods: Sequence[Period], into: list[_Folds]
) -> None:
    c = calls
    filled = c.c.leg_counted.is_not(None)
    queue = func.coalesce(c.c.leg_queue, c.c.queue)
    wait = case((filled, c.c.leg_wait), else_=c.c.wait_seconds)
    counted = or_(c.c.leg_counted == true(), and_(~filled, or_(~c.c.personal, c.c.outcome == "answered")))
    answered = c.c.outcome == "answered"
    short = and_(
        c.c.outcome == "abandoned",
        wait.is_not(None),
        wait < _per_queue(settings, queue, "short_abandon_seconds"),
    )
    in_sl = and_(answered, wait.is_not(None), wait <= _per_queue(settings, queue, "service_level_seconds"))
    columns: list[Any] = [queue.label("queue"), c.c.agent, func.max(c.c.agent_name).label("agent_name")]
    for n, p in enumerate(periods):
        inside = _between(c.c.joined_at, p.since, p.until)
        columns += [
            _count(inside, f"offered_{n}"),
            _count(and_(inside, answered), f"answered_{n}"),
            _count(and_(inside, c.c.outcome == "abandoned", ~short), f"abandoned_{n}"),
            _count(and_(inside, short), f"abandoned_short_{n}"),
            _count(and_(inside, c.c.outcome == "exited"), f"exited_{n}"),
            _count(and_(inside, wait.is_not(None)), f"wait_known_{n}"),
            _count(and_(inside, wait.is_(None)), f"wait_unknown_{n}"),
            _count(and_(inside, in_sl), f"answered_in_sl_{n}"),
            _total(and_(inside, answered, wait.is_not(None)), wait, f"wait_sum_{n}"),
            _count(and_(inside, answered, wait.is_not(None)), f"wait_n_{n}"),
            _total(and_(inside, answered), c.c.talk_seconds, f"talk_seconds_{n}"),
            _count(and_(inside, answered, c.c.cut_off == true()), f"cut_offs_{n}"),
            _count(
                and_(inside, answered, c.c.agent_released_short == true(), c.c.cut_off != true()),
                f"agent_released_short_{n}",
            ),
        ]
    query = (
        select(*columns)
        .where(
            c.c.server_id == server_id,
            counted,
            c.c.joined_at >= min(p.since for p in periods),
            c.c.joined_at < max(p.until for p in periods),
        )
        .group_by(queue, c.c.agent)
    )
    for row in await conn.execute(query):
        m = row._mapping
        for n, folds in enumerate(into):
            folds.add(m["queue"], m["agent"], m["agent_name"], {k: m[f"{k}_{n}"] for k in _LEG_SUMS})


async def _customer_calls(
    conn: AsyncConnection, server_id: str, periods: Sequence[Period], into: list[_Folds]
) -> None:
    cc = customer_calls
    answered = cc.c.outcome == "answered"
    callback = cc.c.callback_of.is_not(None)
    columns: list[Any] = [cc.c.queue, cc.c.agent, func.max(cc.c.agent_name).label("agent_name")]
    for n, p in enumerate(periods):
        inside = _between(cc.c.joined_at, p.since, p.until)
        columns += [
            _count(and_(inside, answered), f"answered_calls_{n}"),
            _count(
                and_(inside, answered, or_(cc.c.notes_state.is_(None), cc.c.notes_state == "empty")),
                f"without_notes_{n}",
            ),
            _count(and_(inside, answered, cc.c.notes_state == "trivial"), f"trivial_notes_{n}"),
            _count(and_(inside, answered, cc.c.resolved == true()), f"resolved_{n}"),
            _count(and_(inside, callback), f"callbacks_{n}"),
            _count(and_(inside, callback, answered), f"callbacks_taken_{n}"),
            _count(and_(inside, cc.c.callback_result == "original_agent"), f"callbacks_of_own_cut_offs_{n}"),
        ]
    ended = and_(
        cc.c.server_id == server_id,
        cc.c.ended_at.is_not(None),
        cc.c.joined_at >= min(p.since for p in periods),
        cc.c.joined_at < max(p.until for p in periods),
    )
    for row in await conn.execute(select(*columns).where(ended).group_by(cc.c.queue, cc.c.agent)):
        m = row._mapping
        for n, folds in enumerate(into):
            folds.add(m["queue"], m["agent"], m["agent_name"], {k: m[f"{k}_{n}"] for k in _CALL_SUMS})
    # The small breakdowns: callbacks by result and by routing, dispositions of answered calls.
    kinds = (
        ("callbacks_by_result", callback, func.coalesce(cc.c.callback_result, "unknown")),
        ("callbacks_by_routing", callback, func.coalesce(cc.c.routing, "not_routed")),
        (
            "dispositions",
            answered,
            func.coalesce(cc.c.disposition, "none"),
        ),
    )
    for breakdown, condition, value in kinds:
        sums = [_count(_between(cc.c.joined_at, p.since, p.until), f"n_{n}") for n, p in enumerate(periods)]
        query = (
            select(cc.c.queue, cc.c.agent, value.label("value"), *sums)
            .where(ended, condition)
            .group_by(cc.c.queue, cc.c.agent, value)
        )
        for row in await conn.execute(query):
            m = row._mapping
            for n, folds in enumerate(into):
                folds.tally(m["queue"], m["agent"], breakdown, str(m["value"]), int(m[f"n_{n}"] or 0))


async def _repeats(
    conn: AsyncConnection, server_id: str, periods: Sequence[Period], into: list[_Folds]
) -> None:
    cc = customer_calls
    columns: list[Any] = [cc.c.queue, cc.c.agent, func.max(cc.c.agent_name).label("agent_name")]
    for n, p in enumerate(periods):
        for window, width in WINDOWS.items():
            base = _between(cc.c.ended_at, p.since - width, p.until - width)
            again = and_(cc.c.next_contact_at.is_not(None), cc.c.next_contact_at <= cc.c.ended_at + width)
            columns += [
                _count(and_(base, again), f"r_{n}_{window}"),
                _count(base, f"d_{n}_{window}"),
                _count(_between(cc.c.ended_at, p.until - width, p.until), f"p_{n}_{window}"),
            ]
    longest = max(WINDOWS.values())
    query = (
        select(*columns)
        .where(
            cc.c.server_id == server_id,
            cc.c.outcome == "answered",
            cc.c.keyed == true(),
            or_(cc.c.repeat_exempt.is_(None), cc.c.repeat_exempt != true()),
            cc.c.ended_at >= min(p.since for p in periods) - longest,
            cc.c.ended_at < max(p.until for p in periods),
        )
        .group_by(cc.c.queue, cc.c.agent)
    )
    for row in await conn.execute(query):
        m = row._mapping
        for n, folds in enumerate(into):
            counts = {
                w: (int(m[f"r_{n}_{w}"] or 0), int(m[f"d_{n}_{w}"] or 0), int(m[f"p_{n}_{w}"] or 0))
                for w in WINDOWS
            }
            folds.repeats(m["queue"], m["agent"], m["agent_name"], counts)


async def _credit(
    conn: AsyncConnection, server_id: str, periods: Sequence[Period], into: list[_Folds]
) -> None:
    sc = sale_credits
    columns: list[Any] = [
        sc.c.queue,
        sc.c.agent,
        func.max(sc.c.agent_name).label("agent_name"),
        sc.c.attribution,
    ]
    for n, p in enumerate(periods):
        inside = _between(sc.c.at, p.since, p.until)
        columns += [
            _total(inside, sc.c.points, f"points_{n}"),
            _count(inside, f"shares_{n}"),
            _count(and_(inside, sc.c.adjusted == true()), f"adjusted_{n}"),
        ]
    span = and_(sc.c.at >= min(p.since for p in periods), sc.c.at < max(p.until for p in periods))
    query = (
        select(*columns)
        .where(sc.c.server_id == server_id, span)
        .group_by(sc.c.queue, sc.c.agent, sc.c.attribution)
    )
    for row in await conn.execute(query):
        m = row._mapping
        for n, folds in enumerate(into):
            if m[f"shares_{n}"]:  # a 0 share (an intermediate rep's) is on the record too
                folds.credit(
                    m["queue"],
                    m["agent"],
                    m["agent_name"],
                    m["attribution"],
                    float(m[f"points_{n}"] or 0.0),
                    int(m[f"adjusted_{n}"] or 0),
                )
    # Disputed sales: per queue once; per agent for every rep with a share in one.
    s = sales
    joined = sc.join(s, and_(s.c.server_id == sc.c.server_id, s.c.sale_id == sc.c.sale_id))
    disputed = [_count(_between(s.c.at, p.since, p.until), f"n_{n}") for n, p in enumerate(periods)]
    s_span = and_(s.c.at >= min(p.since for p in periods), s.c.at < max(p.until for p in periods))
    for row in await conn.execute(
        select(s.c.queue, *disputed)
        .where(s.c.server_id == server_id, s.c.disputed == true(), s_span)
        .group_by(s.c.queue)
    ):
        m = row._mapping
        for n, folds in enumerate(into):
            folds.disputed(m["queue"], None, int(m[f"n_{n}"] or 0))
    for row in await conn.execute(
        select(sc.c.agent, *disputed)
        .select_from(joined)
        .where(sc.c.server_id == server_id, s.c.disputed == true(), s_span)
        .group_by(sc.c.agent)
    ):
        m = row._mapping
        for n, folds in enumerate(into):
            folds.disputed(None, m["agent"], int(m[f"n_{n}"] or 0))


async def _unfilled(conn: AsyncConnection, server_id: str, periods: Sequence[Period]) -> list[int]:
    columns = [_count(_between(calls.c.joined_at, p.since, p.until), f"n_{n}") for n, p in enumerate(periods)]
    row = (
        await conn.execute(
            select(*columns).where(
                calls.c.server_id == server_id,
                calls.c.leg_counted.is_(None),
                calls.c.joined_at >= min(p.since for p in periods),
                calls.c.joined_at < max(p.until for p in periods),
            )
        )
    ).one()
    return [int(row._mapping[f"n_{n}"] or 0) for n in range(len(periods))]


class _Folds:
    """One period's rows folded into per-queue and per-agent stats."""

    def __init__(self) -> None:
        self.queues: dict[str, dict[str, Any]] = defaultdict(_queue_stats)
        self.agents: dict[str, dict[str, Any]] = defaultdict(_queue_stats)

    def _targets(self, queue: str | None, agent: str | None, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        if queue is not None:
            out.append(self.queues[queue])
        if agent is not None:
            a = self.agents[agent]
            a["name"] = a["name"] or name
            out.append(a)
        return out

    def add(self, queue: str | None, agent: str | None, name: str | None, sums: Mapping[str, Any]) -> None:
        for target in self._targets(queue, agent, name):
            for key, value in sums.items():
                target[key] += value or 0

    def tally(self, queue: str | None, agent: str | None, breakdown: str, value: str, n: int) -> None:
        if n:
            for target in self._targets(queue, agent):
                target[breakdown][value] = target[breakdown].get(value, 0) + n

    def repeats(
        self,
        queue: str | None,
        agent: str | None,
        name: str | None,
        counts: Mapping[str, tuple[int, int, int]],
    ) -> None:
        if not any(any(c) for c in counts.values()):
            return
        for target in self._targets(queue, agent, name):
            for window, (repeats, decided, pending) in counts.items():
                cell = target["repeats"][window]
                cell[0] += repeats
                cell[1] += decided
                cell[2] += pending

    def credit(
        self,
        queue: str | None,
        agent: str | None,
        name: str | None,
        attribution: str,
        points: float,
        adjusted: int,
    ) -> None:
        for target in self._targets(queue, agent, name):
            target["credit"][attribution] = target["credit"].get(attribution, 0.0) + points
            target["credit_adjusted"] += adjusted

    def disputed(self, queue: str | None, agent: str | None, n: int) -> None:
        if n:
            for target in self._targets(queue, agent):
                target["credit_disputed"] += n


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def _finish(stats: dict[str, Any], wrapup: float | None) -> dict[str, Any]:
    """Raw sums -> the figures readers show (the same for the report, the API and the gauges)."""
    out: dict[str, Any] = {}
    if wrapup is not None:  # a queue
        out.update(
            offered=int(stats["offered"]),
            answered=int(stats["answered"]),
            abandoned=int(stats["abandoned"]),
            abandoned_short=int(stats["abandoned_short"]),
            exited=int(stats["exited"]),
            wait_unknown=int(stats["wait_unknown"]),
            service_level=_ratio(stats["answered_in_sl"], stats["wait_known"] - stats["abandoned_short"]),
        )
    else:
        out.update(name=stats["name"], answered=int(stats["answered"]))
    mean_talk = _ratio(stats["talk_seconds"], stats["answered"])
    out.update(
        talk_seconds=float(stats["talk_seconds"]),
        asa_seconds=_ratio(stats["wait_sum"], stats["wait_n"]),
        aht_seconds=None if mean_talk is None else mean_talk + (wrapup or 0.0),
        cut_offs=int(stats["cut_offs"]),
        agent_released_short=int(stats["agent_released_short"]),
        answered_calls=int(stats["answered_calls"]),
        without_notes=int(stats["without_notes"]),
        trivial_notes=int(stats["trivial_notes"]),
        resolved=int(stats["resolved"]),
        dispositions=dict(sorted(stats["dispositions"].items())),
        callbacks=int(stats["callbacks"]),
        callbacks_taken=int(stats["callbacks_taken"]),
        callbacks_of_own_cut_offs=int(stats["callbacks_of_own_cut_offs"]),
        callbacks_by_result=dict(sorted(stats["callbacks_by_result"].items())),
        callbacks_by_routing=dict(sorted(stats["callbacks_by_routing"].items())),
    )
    repeat_contacts: dict[str, dict[str, Any]] = {}
    fcr: dict[str, float | None] = {}
    for window, (repeats, decided, pending) in stats["repeats"].items():
        rate = _ratio(repeats, decided)
        repeat_contacts[window] = {"repeats": repeats, "decided": decided, "pending": pending, "rate": rate}
        fcr[window] = None if rate is None else 1.0 - rate
    credit = {k: round(v, 6) for k, v in sorted(stats["credit"].items())}
    out.update(
        repeat_contacts=repeat_contacts,
        fcr=fcr,
        credit_points=round(sum(credit.values()), 6),
        credit=credit,
        credit_adjusted=int(stats["credit_adjusted"]),
        credit_disputed=int(stats["credit_disputed"]),
    )
    return out


async def summarize(
    conn: AsyncConnection,
    settings: Settings,
    periods: Mapping[str, Period],
    *,
    now: float,
    server_id: str | None = None,
) -> dict[str, Report]:
    """Every period's report, from one pass over each table (see the module docstring)."""
    server = server_id or settings.server_id
    names = list(periods)
    spans = [periods[n] for n in names]
    folds = [_Folds() for _ in spans]
    await _legs(conn, settings, server, spans, folds)
    await _customer_calls(conn, server, spans, folds)
    await _repeats(conn, server, spans, folds)
    await _credit(conn, server, spans, folds)
    unfilled = await _unfilled(conn, server, spans)
    reports: dict[str, Report] = {}
    for name, span, fold, missing in zip(names, spans, folds, unfilled, strict=True):
        queues = {}
        for queue, stats in sorted(fold.queues.items()):
            rules = settings.queue(queue)
            queues[queue] = {
                **_finish(stats, rules.wrapup_seconds),
                "service_level_seconds": rules.service_level_seconds,
            }
        agents = {
            agent: {"agent": agent, **_finish(stats, None)} for agent, stats in sorted(fold.agents.items())
        }
        reports[name] = Report(span.since, span.until, now, queues, agents, missing)
    return reports


async def agent_summary(
    conn: AsyncConnection, settings: Settings, agent: str, since: float, until: float, *, now: float
) -> dict[str, Any]:
    """One rep's figures over [since, until): exactly their entry of the report for that period
    (zeros and "no data" when they had no calls)."""
    report = (await summarize(conn, settings, {"period": Period(since, until)}, now=now))["period"]
    return report.agents.get(agent) or {"agent": agent, **_finish(_queue_stats(), None)}


async def load_report(
    engine: AsyncEngine, settings: Settings, since: float, until: float, now: float
) -> Report:
    """One period's report on its own connection (``acd report``, the pages' day and week)."""
    async with engine.connect() as conn:
        return (await summarize(conn, settings, {"period": Period(since, until)}, now=now))["period"]
