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

Where each piece lives: what each figure sums, as SQL, in acd/reads/summary_sql.py; the rows of
each part folded into the periods and repeat windows in acd/reads/summary_periods.py; the sums
turned into the figures shown in acd/reads/summary_figures.py; the parts read from rollups and
rows in acd/reads/rollup_read.py. This module is the entry: which server's rows (one, or the
center's), which periods, and the reports they make.

The center (``server_id=ALL_SERVERS``, several servers sharing the database) is every server's
rows folded together, each server read as its own (its rollups included): queues add up, and an
agent is the rep the reps mapping names (acd/core/reps.py), or ``interface@server`` where none
does, since one interface on two servers may be two people.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.core.reps import RepDirectory
from acd.reads.rollup_build import build
from acd.reads.rollup_read import Reader
from acd.reads.rollups import rules_key
from acd.reads.summary_figures import empty_sums, figures
from acd.reads.summary_periods import Folds, Period, read_periods, repeat_ranges
from acd.reads.summary_sql import count_of, settings_in_sql, summary_parts
from acd.settings import Settings
from acd.store.schema.operation import servers as servers_table
from acd.store.schema.records import calls

__all__ = [
    "ALL_SERVERS",
    "Report",
    "agent_summary",
    "build_rollups",
    "load_report",
    "servers_sharing",
    "summarize",
]

ALL_SERVERS = "*"  # ``server_id`` for the center's figures: every server sharing the database


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
    folds = [Folds(agents, rename) for _ in spans]
    edges = [t for span in spans for t in (span.since, span.until)]
    edges += [t for r in repeat_ranges(spans).values() for t in r]
    unfilled = [0 for _ in spans]
    for one in await servers_sharing(conn, settings) if center else [server]:
        for fold in folds:
            fold.server = one
        reader = Reader(conn, one, rules_key(settings_in_sql(settings)), use_rollups=rollups)
        await reader.prepare(min(edges), max(edges))
        await read_periods(
            reader, summary_parts(settings), spans, folds, ("queue", "agent") if agents else ("queue",)
        )
        unfilled = [a + b for a, b in zip(unfilled, await _unfilled(conn, one, spans), strict=True)]
    reports: dict[str, Report] = {}
    for name, span, fold, missing in zip(names, spans, folds, unfilled, strict=True):
        queues = {}
        for queue, stats in sorted(fold.queues.items()):
            rules = settings.queue(queue)
            queues[queue] = {
                **figures(stats, rules.wrapup_seconds),
                "service_level_seconds": rules.service_level_seconds,
            }
        reps = {
            agent: {"agent": agent, **figures(stats, None)} for agent, stats in sorted(fold.agents.items())
        }
        reports[name] = Report(span.since, span.until, now, queues, reps, missing)
    return reports


async def agent_summary(
    conn: AsyncConnection, settings: Settings, agent: str, since: float, until: float, *, now: float
) -> dict[str, Any]:
    """One rep's figures over [since, until): exactly their entry of the report for that period
    (zeros and "no data" when they had no calls)."""
    report = (await summarize(conn, settings, {"period": Period(since, until)}, now=now))["period"]
    return report.agents.get(agent) or {"agent": agent, **figures(empty_sums(), None)}


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
    """Bring the summary rollups up to date for at most ``budget`` seconds (acd/reads/rollup_build.py):
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
