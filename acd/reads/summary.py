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
* **Customer calls** that arrived in the period and have ended (``customer_calls``; one passed to
  another server with ACD_ORIGIN counts once, as its continuation there: acd/core/origin.py), under
  their queue and the agent who closed them: answered calls, without notes (no outcome, or empty
  notes), trivial notes, marked resolved (shown beside FCR, never in it), dispositions of the
  answered ones (``none``: no outcome posted), callbacks (by result, by routing reason).
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

The center (``server_id=ALL_SERVERS``, several servers sharing the database) is every server's
rows folded together, each server read as its own (its rollups included): queues add up, and an
agent is the rep the reps mapping names (acd/core/reps.py), or ``interface@server`` where none
does, since one interface on two servers may be two people.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.core.definitions import WINDOWS
from acd.core.reps import RepDirectory
from acd.reads.rollups import Part, Reader, Timeline, build, rules_key
from acd.reads.summary_sql import CALL_SUMS, LEG_SUMS, count_of, settings_in_sql, summary_parts
from acd.settings import Settings
from acd.store.tables import calls
from acd.store.tables import servers as servers_table

__all__ = [
    "ALL_SERVERS",
    "Period",
    "Report",
    "agent_summary",
    "build_rollups",
    "load_report",
    "servers_sharing",
    "summarize",
]

ALL_SERVERS = "*"  # ``server_id`` for the center's figures: every server sharing the database


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
    # The center's report (several servers share the database): each server's own beside it.
    servers: dict[str, Report] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "period": {"from": self.since, "to": self.until, "now": self.now},
            "queues": self.queues,
            "agents": self.agents,
            "unfilled": self.unfilled,
        }
        if self.servers:
            out["servers"] = {
                name: {"queues": r.queues, "agents": r.agents, "unfilled": r.unfilled}
                for name, r in self.servers.items()
            }
        return out


def _rep_key(reps: RepDirectory) -> Callable[[str, str], tuple[str, str | None]]:
    """(server, interface) -> (the center's agent key, display name): a mapped interface is its rep
    wherever they worked; an unmapped one is ``interface@server``."""

    def key(server: str, interface: str) -> tuple[str, str | None]:
        found = reps.rep_of(server, interface)
        if found is None:
            return f"{interface}@{server}", None
        named = next((line.name for line in reps.lines if line.rep == found.rep and line.name), None)
        return found.rep, named

    return key


def _queue_stats() -> dict[str, Any]:
    return {
        **{name: 0 for name in LEG_SUMS},
        **{name: 0 for name in CALL_SUMS},
        "callbacks_by_result": {},
        "callbacks_by_routing": {},
        "dispositions": {},
        "repeats": {w: [0, 0, 0] for w in WINDOWS},  # repeats, decided, pending
        "credit": {},
        "credit_adjusted": 0,
        "credit_disputed": 0,
        "name": None,
    }


def _fold(
    rows: Sequence[Any],
    timeline: Timeline,
    periods: Sequence[Period],
    into: list[_Folds],
    names: Sequence[str],
) -> list[tuple[Any, list[int]]]:
    """Each row's sums added to every period holding its piece; returns (row, periods) pairs."""
    placed = []
    hits: dict[int, list[int]] = {}  # per piece of the time line (a few), not per row
    for row in rows:
        m = row._mapping
        piece = int(m["bucket"])
        hit = hits.get(piece)
        if hit is None:
            hit = hits[piece] = [n for n, p in enumerate(periods) if timeline.inside(piece, p.since, p.until)]
        queue, agent = _who(m)
        sums = {k: _number(m[k]) for k in names}
        for n in hit:
            into[n].add(queue, agent, m["name"], sums)
        placed.append((row, hit))
    return placed


def _who(m: Any) -> tuple[str | None, str | None]:
    return (m["key"], None) if m["kind"] == "queue" else (None, m["key"])


def _number(value: Any) -> int | float:
    """A SQL sum as Python: PostgreSQL returns sums of integers as exact decimals; a rollup's sums
    are stored as doubles (whole numbers stay whole)."""
    kind = type(value)  # tens of thousands of these per report: the common types first
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is int:
        return value  # type: ignore[no-any-return]
    if value is None:
        return 0
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # type: ignore[no-any-return]


async def _summed(
    reader: Reader,
    parts: Mapping[str, Part],
    periods: Sequence[Period],
    into: list[_Folds],
    levels: Sequence[str],
) -> None:
    timeline = Timeline([t for p in periods for t in (p.since, p.until)])
    _fold(await reader.read(parts["legs"], timeline, levels), timeline, periods, into, LEG_SUMS)
    for row, hit in _fold(
        await reader.read(parts["calls"], timeline, levels), timeline, periods, into, CALL_SUMS
    ):
        m = row._mapping
        queue, agent = _who(m)
        for n in hit:
            if m["disposition"] is not None:
                into[n].tally(queue, agent, "dispositions", m["disposition"], int(m["answered_calls"] or 0))
            if m["result"] is not None:
                into[n].tally(queue, agent, "callbacks_by_result", m["result"], int(m["callbacks"] or 0))
                into[n].tally(queue, agent, "callbacks_by_routing", m["routing"], int(m["callbacks"] or 0))
    for row in await reader.read(parts["credit"], timeline, levels):
        m = row._mapping
        queue, agent = _who(m)
        for n, p in enumerate(periods):
            if timeline.inside(m["bucket"], p.since, p.until) and m["shares"]:
                # a 0 share (an intermediate rep's) is on the record too
                into[n].credit(
                    queue,
                    agent,
                    m["name"],
                    m["attribution"],
                    float(m["points"] or 0.0),
                    int(m["adjusted"] or 0),
                )
    for part in ("disputed_q", "disputed_a"):
        for row in await reader.read(parts[part], timeline, levels):
            m = row._mapping
            queue, agent = _who(m)
            for n, p in enumerate(periods):
                if timeline.inside(m["bucket"], p.since, p.until):
                    into[n].disputed(queue, agent, int(m["disputed"] or 0))
    await _repeats(reader, parts["repeats"], periods, into, levels)


def _repeat_ranges(periods: Sequence[Period]) -> dict[tuple[int, str], tuple[float, float, float]]:
    """Per period and window W: (from - W, to - W, to): decided base, then pending."""
    return {
        (n, window): (p.since - width, p.until - width, p.until)
        for n, p in enumerate(periods)
        for window, width in WINDOWS.items()
    }


async def _repeats(
    reader: Reader, part: Part, periods: Sequence[Period], into: list[_Folds], levels: Sequence[str]
) -> None:
    ranges = _repeat_ranges(periods)
    timeline = Timeline([t for edges in ranges.values() for t in edges])
    # Per piece of the time line: the (period, window) pairs it is decided in, and pending in.
    roles: dict[int, tuple[list[tuple[int, str]], list[tuple[int, str]]]] = {}
    for row in await reader.read(part, timeline, levels):
        m = row._mapping
        piece = int(m["bucket"])
        role = roles.get(piece)
        if role is None:
            role = roles[piece] = (
                [key for key, (start, cut, _) in ranges.items() if timeline.inside(piece, start, cut)],
                [key for key, (_, cut, stop) in ranges.items() if timeline.inside(piece, cut, stop)],
            )
        queue, agent = _who(m)
        counts: dict[int, dict[str, tuple[int, int, int]]] = defaultdict(dict)
        calls_n = int(m["calls"] or 0)
        for n, window in role[0]:
            counts[n][window] = (int(m[f"again_{window}"] or 0), calls_n, 0)
        for n, window in role[1]:
            counts[n][window] = (0, 0, calls_n)
        for n, windows in counts.items():
            into[n].repeats(queue, agent, m["name"], windows)


async def _unfilled(conn: AsyncConnection, server_id: str, periods: Sequence[Period]) -> list[int]:
    joined = calls.c.joined_at
    columns = [count_of(and_(joined >= p.since, joined < p.until), f"n_{n}") for n, p in enumerate(periods)]
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

    def __init__(
        self, agents: bool = True, rename: Callable[[str, str], tuple[str, str | None]] | None = None
    ) -> None:
        self.queues: dict[str, dict[str, Any]] = defaultdict(_queue_stats)
        self.agents: dict[str, dict[str, Any]] = defaultdict(_queue_stats)
        self.with_agents = agents
        self.rename = rename  # the center's: (server, interface) -> agent key, name
        self.server = ""  # the server whose rows are being folded (the center reads them in turn)

    def _targets(self, queue: str | None, agent: str | None, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        if queue is not None:
            out.append(self.queues[queue])
        if agent is not None and self.with_agents:
            if self.rename is not None:
                agent, known = self.rename(self.server, agent)
                name = known or name
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
        customer_calls=int(stats["customer_calls"]),
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
    rollups: bool = True,
) -> dict[str, Report]:
    """Every period's report, from one read of each part (see the module docstring).
    ``agents=False``: queues only (the per-queue figures are the same; the window KPIs skip the
    agents unless per-agent series are on). ``rollups=False``: the rows only, never the rollups
    (the same numbers, slower: what the tests compare the rollups with)."""
    server = server_id or settings.server_id
    names = list(periods)
    spans = [periods[n] for n in names]
    center = server == ALL_SERVERS
    rename = _rep_key(settings.reps()) if center else None
    folds = [_Folds(agents, rename) for _ in spans]
    edges = [t for span in spans for t in (span.since, span.until)]
    edges += [t for r in _repeat_ranges(spans).values() for t in r]
    unfilled = [0 for _ in spans]
    for one in await servers_sharing(conn, settings) if center else [server]:
        for fold in folds:
            fold.server = one
        reader = Reader(conn, one, rules_key(settings_in_sql(settings)), use_rollups=rollups)
        await reader.prepare(min(edges), max(edges))
        await _summed(
            reader, summary_parts(settings), spans, folds, ("queue", "agent") if agents else ("queue",)
        )
        unfilled = [a + b for a, b in zip(unfilled, await _unfilled(conn, one, spans), strict=True)]
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


async def servers_sharing(conn: AsyncConnection, settings: Settings) -> list[str]:
    """The servers whose records share this database: every server an acd led on PostgreSQL
    (the leadership table); with SQLite, or before any led, this one."""
    found = {str(r[0]) for r in await conn.execute(select(servers_table.c.server_id))}
    return sorted(found) or [settings.server_id]


async def load_report(
    engine: AsyncEngine,
    settings: Settings,
    since: float,
    until: float,
    now: float,
    *,
    server_id: str | None = None,
) -> Report:
    """One period's report on its own connection (``acd report``, the pages' day and week).
    ``server_id``: one server's (default this one's); :data:`ALL_SERVERS`: the center's, with each
    server's report beside it when several share the database."""
    period = {"period": Period(since, until)}
    async with engine.connect() as conn:
        if server_id != ALL_SERVERS:
            return (await summarize(conn, settings, period, now=now, server_id=server_id))["period"]
        names = await servers_sharing(conn, settings)
        if len(names) == 1:
            return (await summarize(conn, settings, period, now=now, server_id=names[0]))["period"]
        center = (await summarize(conn, settings, period, now=now, server_id=ALL_SERVERS))["period"]
        for name in names:
            one = await summarize(conn, settings, period, now=now, server_id=name)
            center.servers[name] = one["period"]
        return center


async def build_rollups(
    engine: AsyncEngine,
    settings: Settings,
    now: float,
    *,
    budget: float = 5.0,
    limit: int | None = None,
    sweep: int = 2,
    server_id: str | None = None,
) -> int:
    """Bring the summary rollups up to date for at most ``budget`` seconds (acd/reads/rollups.py):
    the daemon's KPI refresh calls it before each refresh; nothing else writes them."""
    return await build(
        engine,
        list(summary_parts(settings).values()),
        server_id or settings.server_id,
        rules_key(settings_in_sql(settings)),
        now,
        budget=budget,
        limit=limit,
        sweep=sweep,
    )
