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
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.core.definitions import WINDOWS
from acd.settings import Settings
from acd.store.models import Call, CustomerCallRow, SaleCredit, table_of
from acd.store.models import Sale as SaleRow

__all__ = ["Period", "Report", "agent_summary", "leg_rules", "load_report", "summarize"]

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


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((condition, 1), else_=0)


class _Buckets:
    """The time line cut at every boundary of the periods asked for: each row is placed in one
    bucket by one CASE (not tested against every period), and a period is the sum of its buckets."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = sorted(set(bounds))

    def of(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        edges = self.bounds[1:-1]
        if not edges:
            return literal(0)
        return case(*((column < edge, i) for i, edge in enumerate(edges)), else_=len(edges))

    def within(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        return and_(column >= self.bounds[0], column < self.bounds[-1])

    def inside(self, bucket: int, since: float, until: float) -> bool:
        return since <= self.bounds[bucket] and self.bounds[bucket + 1] <= until


async def _grouped(
    conn: AsyncConnection,
    *,
    queue: ColumnElement[Any],
    agent: ColumnElement[Any],
    name: ColumnElement[Any],
    bucket: ColumnElement[Any],
    measures: Sequence[tuple[str, ColumnElement[Any]]],
    extra: Sequence[tuple[str, ColumnElement[Any]]],
    where: Sequence[ColumnElement[bool]],
    agents: bool,
) -> list[Any]:
    """One pass over the rows, grouped by queue, agent and bucket (and ``extra``), then folded in
    SQL to rows per queue and per agent: a few thousand rows reach Python, never one per pair.
    Without ``agents`` the rows are grouped by queue only (sorting by agent is most of the cost)."""
    if not agents:
        query = (
            select(
                literal("queue").label("kind"),
                queue.label("key"),
                bucket.label("bucket"),
                *(value.label(label) for label, value in extra),
                literal(None).label("name"),
                *(func.sum(value).label(label) for label, value in measures),
            )
            .where(*where)
            .group_by(queue, bucket, *(value for _, value in extra))
        )
        return list(await conn.execute(query))
    inner = (
        select(
            queue.label("queue"),
            agent.label("agent"),
            bucket.label("bucket"),
            *(value.label(label) for label, value in extra),
            func.max(name).label("name"),
            *(func.sum(value).label(label) for label, value in measures),
        )
        .where(*where)
        .group_by(queue, agent, bucket, *(value for _, value in extra))
        .cte("grouped")
        .prefix_with("MATERIALIZED")
    )
    keys = [inner.c[label] for label, _ in extra]
    sums = [func.sum(inner.c[label]).label(label) for label, _ in measures]
    by_queue = select(
        literal("queue").label("kind"), inner.c.queue.label("key"), inner.c.bucket, *keys,
        func.max(inner.c.name).label("name"), *sums,
    ).group_by(inner.c.queue, inner.c.bucket, *keys)  # fmt: skip
    by_agent = (
        select(
            literal("agent").label("kind"), inner.c.agent.label("key"), inner.c.bucket, *keys,
            func.max(inner.c.name).label("name"), *sums,
        )
        .where(inner.c.agent.is_not(None))
        .group_by(inner.c.agent, inner.c.bucket, *keys)
    )  # fmt: skip
    return list(await conn.execute(union_all(by_queue, by_agent)))


def _period_buckets(periods: Sequence[Period]) -> _Buckets:
    return _Buckets([t for p in periods for t in (p.since, p.until)])


def _number(value: Any) -> int | float:
    """A SQL sum as Python: PostgreSQL returns sums of integers as exact decimals."""
    if value is None:
        return 0
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value  # type: ignore[no-any-return]


def _fold(
    rows: Sequence[Any],
    buckets: _Buckets,
    periods: Sequence[Period],
    into: list[_Folds],
    names: Sequence[str],
) -> list[tuple[Any, list[int]]]:
    """Each row's sums added to every period holding its bucket; returns (row, periods) pairs."""
    placed = []
    for row in rows:
        m = row._mapping
        hit = [n for n, p in enumerate(periods) if buckets.inside(m["bucket"], p.since, p.until)]
        queue, agent = (m["key"], None) if m["kind"] == "queue" else (None, m["key"])
        sums = {k: _number(m[k]) for k in names}
        for n in hit:
            into[n].add(queue, agent, m["name"], sums)
        placed.append((row, hit))
    return placed


def leg_rules() -> tuple[ColumnElement[bool], ColumnElement[Any], ColumnElement[Any]]:
    """Which entry rows count as legs, the queue each is reported under and its wait: a filled row
    by the core's leg columns, an older one on its own (see the module docstring)."""
    c = calls
    filled = c.c.leg_counted.is_not(None)
    queue = func.coalesce(c.c.leg_queue, c.c.queue)
    wait = case((filled, c.c.leg_wait), else_=c.c.wait_seconds)
    counted = or_(c.c.leg_counted == true(), and_(~filled, or_(~c.c.personal, c.c.outcome == "answered")))
    return counted, queue, wait


async def _legs(
    conn: AsyncConnection,
    settings: Settings,
    server_id: str,
    periods: Sequence[Period],
    into: list[_Folds],
    agents: bool,
) -> None:
    c = calls
    counted, queue, wait = leg_rules()
    answered = c.c.outcome == "answered"
    known = wait.is_not(None)
    short = and_(
        c.c.outcome == "abandoned", known, wait < _per_queue(settings, queue, "short_abandon_seconds")
    )
    in_sl = and_(answered, known, wait <= _per_queue(settings, queue, "service_level_seconds"))
    buckets = _period_buckets(periods)
    measures: list[tuple[str, ColumnElement[Any]]] = [
        ("offered", literal(1)),
        ("answered", _flag(answered)),
        ("abandoned", _flag(and_(c.c.outcome == "abandoned", ~short))),
        ("abandoned_short", _flag(short)),
        ("exited", _flag(c.c.outcome == "exited")),
        ("wait_known", _flag(known)),
        ("wait_unknown", _flag(~known)),
        ("answered_in_sl", _flag(in_sl)),
        ("wait_sum", case((and_(answered, known), wait), else_=0.0)),
        ("wait_n", _flag(and_(answered, known))),
        ("talk_seconds", case((answered, c.c.talk_seconds), else_=0.0)),
        ("cut_offs", _flag(and_(answered, c.c.cut_off == true()))),
        (
            "agent_released_short",
            _flag(and_(answered, c.c.agent_released_short == true(), c.c.cut_off != true())),
        ),
    ]
    rows = await _grouped(
        conn,
        queue=queue,
        agent=c.c.agent,
        name=c.c.agent_name,
        bucket=buckets.of(c.c.joined_at),
        measures=measures,
        extra=(),
        where=(c.c.server_id == server_id, counted, buckets.within(c.c.joined_at)),
        agents=agents,
    )
    _fold(rows, buckets, periods, into, _LEG_SUMS)


async def _customer_calls(
    conn: AsyncConnection, server_id: str, periods: Sequence[Period], into: list[_Folds], agents: bool
) -> None:
    cc = customer_calls
    answered = cc.c.outcome == "answered"
    callback = cc.c.callback_of.is_not(None)
    buckets = _period_buckets(periods)
    measures: list[tuple[str, ColumnElement[Any]]] = [
        ("answered_calls", _flag(answered)),
        (
            "without_notes",
            _flag(and_(answered, or_(cc.c.notes_state.is_(None), cc.c.notes_state == "empty"))),
        ),
        ("trivial_notes", _flag(and_(answered, cc.c.notes_state == "trivial"))),
        ("resolved", _flag(and_(answered, cc.c.resolved == true()))),
        ("callbacks", _flag(callback)),
        ("callbacks_taken", _flag(and_(callback, answered))),
        ("callbacks_of_own_cut_offs", _flag(cc.c.callback_result == "original_agent")),
    ]
    # The breakdowns ride along as extra group columns (NULL where they do not apply).
    extra: list[tuple[str, ColumnElement[Any]]] = [
        ("disposition", case((answered, func.coalesce(cc.c.disposition, "none")), else_=None)),
        ("result", case((callback, func.coalesce(cc.c.callback_result, "unknown")), else_=None)),
        ("routing", case((callback, func.coalesce(cc.c.routing, "not_routed")), else_=None)),
    ]
    rows = await _grouped(
        conn,
        queue=cc.c.queue,
        agent=cc.c.agent,
        name=cc.c.agent_name,
        bucket=buckets.of(cc.c.joined_at),
        measures=measures,
        extra=extra,
        where=(cc.c.server_id == server_id, cc.c.ended_at.is_not(None), buckets.within(cc.c.joined_at)),
        agents=agents,
    )
    for row, hit in _fold(rows, buckets, periods, into, _CALL_SUMS):
        m = row._mapping
        queue, agent = (m["key"], None) if m["kind"] == "queue" else (None, m["key"])
        for n in hit:
            if m["disposition"] is not None:
                into[n].tally(queue, agent, "dispositions", m["disposition"], int(m["answered_calls"] or 0))
            if m["result"] is not None:
                into[n].tally(queue, agent, "callbacks_by_result", m["result"], int(m["callbacks"] or 0))
                into[n].tally(queue, agent, "callbacks_by_routing", m["routing"], int(m["callbacks"] or 0))


async def _repeats(
    conn: AsyncConnection, server_id: str, periods: Sequence[Period], into: list[_Folds], agents: bool
) -> None:
    cc = customer_calls
    ranges = {
        (n, window): (p.since - width, p.until - width, p.until)
        for n, p in enumerate(periods)
        for window, width in WINDOWS.items()
    }
    buckets = _Buckets([t for edges in ranges.values() for t in edges])
    measures: list[tuple[str, ColumnElement[Any]]] = [("calls", literal(1))]
    for window, width in WINDOWS.items():
        again = and_(cc.c.next_contact_at.is_not(None), cc.c.next_contact_at <= cc.c.ended_at + width)
        measures.append((f"again_{window}", _flag(again)))
    rows = await _grouped(
        conn,
        queue=cc.c.queue,
        agent=cc.c.agent,
        name=cc.c.agent_name,
        bucket=buckets.of(cc.c.ended_at),
        measures=measures,
        extra=(),
        where=(
            cc.c.server_id == server_id,
            cc.c.outcome == "answered",
            cc.c.keyed == true(),
            or_(cc.c.repeat_exempt.is_(None), cc.c.repeat_exempt != true()),
            buckets.within(cc.c.ended_at),
        ),
        agents=agents,
    )
    for row in rows:
        m = row._mapping
        queue, agent = (m["key"], None) if m["kind"] == "queue" else (None, m["key"])
        counts: dict[int, dict[str, tuple[int, int, int]]] = defaultdict(dict)
        for (n, window), (start, cut, stop) in ranges.items():
            calls_n = int(m["calls"] or 0)
            if buckets.inside(m["bucket"], start, cut):
                counts[n][window] = (int(m[f"again_{window}"] or 0), calls_n, 0)
            elif buckets.inside(m["bucket"], cut, stop):
                counts[n][window] = (0, 0, calls_n)
        for n, windows in counts.items():
            into[n].repeats(queue, agent, m["name"], windows)


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

    def __init__(self, agents: bool = True) -> None:
        self.queues: dict[str, dict[str, Any]] = defaultdict(_queue_stats)
        self.agents: dict[str, dict[str, Any]] = defaultdict(_queue_stats)
        self.with_agents = agents

    def _targets(self, queue: str | None, agent: str | None, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        if queue is not None:
            out.append(self.queues[queue])
        if agent is not None and self.with_agents:
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
    # The rates every reader shows beside the counts ("no data", None, over an empty base).
    out.update(
        cut_off_rate=_ratio(stats["cut_offs"], stats["answered"]),
        agent_released_short_rate=_ratio(stats["agent_released_short"], stats["answered"]),
        notes_complete=_ratio(stats["answered_calls"] - stats["without_notes"], stats["answered_calls"]),
        resolved_rate=_ratio(stats["resolved"], stats["answered_calls"]),
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
    agents: bool = True,
) -> dict[str, Report]:
    """Every period's report, from one pass over each table (see the module docstring).
    ``agents=False``: queues only (the per-queue figures are the same; the window KPIs skip the
    agents unless per-agent series are on)."""
    server = server_id or settings.server_id
    names = list(periods)
    spans = [periods[n] for n in names]
    folds = [_Folds(agents) for _ in spans]
    await _legs(conn, settings, server, spans, folds, agents)
    await _customer_calls(conn, server, spans, folds, agents)
    await _repeats(conn, server, spans, folds, agents)
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
        reps = {
            agent: {"agent": agent, **_finish(stats, None)} for agent, stats in sorted(fold.agents.items())
        }
        reports[name] = Report(span.since, span.until, now, queues, reps, missing)
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
