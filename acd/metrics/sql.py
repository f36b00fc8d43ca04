"""Window KPIs computed by the database (SQLite or PostgreSQL) from acd's call rows.

Aggregation happens in SQL, not in Python: a 30-day window is hundreds of thousands of rows, and
the daemon's loop must not spend seconds folding them (the queries run in the driver's own thread,
aiosqlite, or on the server, asyncpg, and the loop only awaits). Four queries per refresh: one
conditional aggregation over the longest window for service level, cut-offs and notes, and one
repeat-contact query per window.

Definitions follow ``acd report`` (acd/reporting/compute.py) at the level of queue entries:

* A *leg* is a shared-queue entry. A personal affinity entry (``acd-agent-*``) is not a leg of its
  own: its wait is counted in the shared entry of the same customer call (waits run from the
  customer call's first arrival), and an answered personal entry with no shared entry after it is
  counted under the queue of the cut-off call it is a callback of.
* service level: answered legs with wait <= the queue's threshold / (legs - short abandons),
  over legs that joined within the window.
* cut-off ratio: cut-off answered legs / answered legs.
* A customer call's *closing leg* is its last answered leg: notes and repeat contacts are counted
  once per customer call, charged to that leg's queue and agent, as the report does.
* notes completeness: closing legs whose customer call's latest outcome has notes / closing legs.
* repeat-contact ratio for window W: of the closing legs with a known caller key that ended in
  ``[now - W - period, now - W]`` (their window has closed, so none is pending), the share followed
  by another customer call from the same key within W after they ended. Rows whose caller key was
  purged use the flags frozen at purge time. FCR is one minus it. With less than W + period of
  history the window has no population and is not exported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
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

from acd.metrics.kpi import WINDOWS, KpiRefresher, Kpis, WindowKpi
from acd.metrics.metrics import Metrics
from acd.settings import Settings
from acd.store.models import Call, Outcome, table_of

__all__ = ["SqlKpiSource", "attach_sql_kpis"]

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


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


class SqlKpiSource:
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


def attach_sql_kpis(
    metrics: Metrics,
    engine: AsyncEngine,
    *,
    clock: Callable[[], float],
    interval: float = 60.0,
    timeout: float = 30.0,
) -> KpiRefresher:
    """The daemon's one call: a refresher computing KPIs from ``engine``, exported by ``metrics``.

    The caller owns the task: ``refresher.start()`` once the loop runs, ``await refresher.stop()``
    on shutdown (before disposing of the engine). ``clock`` is the daemon's clock, so windows follow
    simulated time in a sped-up demo just as the rows' timestamps do.
    """
    refresher = KpiRefresher(
        SqlKpiSource(engine, metrics.settings), interval=interval, timeout=timeout, clock=clock
    )
    metrics.attach_kpis(refresher)
    return refresher
