"""``acd import queue_log``: Asterisk's history into acd's database, through the same reader and core.

A center that starts with acd has months of calls in queue_log. Imported, repeat contacts, FCR and
the 30-day windows work from day one. The lines are read as the daemon reads a gap (plain, rotated
and gzip files, in time order, a line seen twice read once), parsed by the same pure reader
(acd.core.queuelog) and finished by the same core code as the calls the daemon recovers
(acd.core.gapfill), in time order, so callback and repeat links are made as they would have been
live, with the calls already in the database taken into account.

Idempotent: a call is keyed by its caller channel's Uniqueid and entry number; one already stored
(by acd itself, or an earlier import) is left as it is. Each row says ``source = queue_log`` and
lists what queue_log cannot tell (the hang-up cause, so whether it was a cut-off; who ended it
after COMPLETECALLER). An agent is named by its member name in queue_log; acd maps it to the agent
through the calls and agent sessions it has stored (else the name stands for the agent, and the
row lists ``agent`` as unknown). An entry whose ENTERQUEUE is not in the files (the oldest file
begins mid-call) or that has not ended is skipped and counted.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.callcenter import Core
from acd.core.caller_history import PastCall
from acd.core.config import CoreConfig
from acd.core.effects import CallFinished, Effect
from acd.core.entities import Entry
from acd.core.queuelog import QlEntry, QueueLogFacts, read_facts
from acd.core.queuelog_merge import end_of, entry_from_queue_log
from acd.queuelog.files import first_timestamp, iter_file_lines
from acd.settings import Settings
from acd.store.history import load_past_calls
from acd.store.schema.base import table_of
from acd.store.schema.records import AgentSession, Call
from acd.store.upsert import RowUpserter

__all__ = ["ImportSummary", "import_queue_log", "read_files"]

BATCH = 500
Progress = Callable[[str], None]


@dataclass
class ImportSummary:
    files: int = 0
    lines: int = 0
    unreadable_lines: int = 0
    entries: int = 0
    written: int = 0
    already_stored: int = 0
    incomplete: int = 0  # no ENTERQUEUE in the files, or not ended
    unknown_agents: set[str] = field(default_factory=set)
    first_at: int | None = None
    last_at: int | None = None


def read_files(paths: Sequence[Path]) -> QueueLogFacts:
    """Every line of ``paths`` (plain or gzip) in time order of the files' first lines, each line
    once (rotated copies overlap when logrotate copied before it truncated)."""
    dated = sorted(paths, key=lambda p: (first_timestamp(p) or 0, p.name))
    seen: set[str] = set()

    def lines() -> Iterator[str]:
        for path in dated:
            for text in iter_file_lines(path):
                if text not in seen:
                    seen.add(text)
                    yield text

    return read_facts(lines())


async def _stored_ids(engine: AsyncEngine, server_id: str, callids: list[str]) -> set[str]:
    calls = table_of(Call)
    found: set[str] = set()
    async with engine.connect() as conn:
        for i in range(0, len(callids), 500):
            chunk = callids[i : i + 500]
            rows = await conn.execute(
                select(calls.c.call_id).where(calls.c.server_id == server_id, calls.c.uniqueid.in_(chunk))
            )
            found.update(r[0] for r in rows)
    return found


async def _agent_names(engine: AsyncEngine, server_id: str) -> dict[str, str]:
    """Member name -> agent, from the sessions and calls acd stored (the latest wins)."""
    sessions, calls = table_of(AgentSession), table_of(Call)
    names: dict[str, str] = {}
    async with engine.connect() as conn:
        for row in await conn.execute(
            select(sessions.c.name, sessions.c.agent)
            .where(sessions.c.server_id == server_id)
            .order_by(sessions.c.at)
        ):
            names[row.name] = row.agent
        for row in await conn.execute(
            select(calls.c.agent_name, calls.c.agent)
            .where(
                calls.c.server_id == server_id,
                calls.c.agent.is_not(None),
                calls.c.agent_name.is_not(None),
            )
            .order_by(calls.c.ended_at)
        ):
            names[row.agent_name] = row.agent
    return names


async def import_queue_log(
    settings: Settings,
    engine: AsyncEngine,
    paths: Sequence[Path],
    *,
    progress: Progress | None = None,
) -> ImportSummary:
    summary = ImportSummary()
    say = progress or (lambda _text: None)
    say(f"reading {len(paths)} file(s)")
    facts = read_files(paths)
    summary.files = len(paths)
    summary.lines, summary.unreadable_lines = facts.lines, facts.unreadable
    summary.first_at, summary.last_at = facts.first_at, facts.last_at
    summary.entries = len(facts.entries)
    server_id = settings.server_id
    core = Core(CoreConfig.from_settings(settings))
    for name, agent in (await _agent_names(engine, server_id)).items():
        core.history.note_agent(name, agent)
    stored = await _stored_ids(engine, server_id, sorted({q.callid for q in facts.entries}))
    candidates: list[tuple[QlEntry, int]] = []
    for q in facts.entries:
        end = end_of(q, facts.restarts)
        if q.number is None or q.entered is None or end is None:
            summary.incomplete += 1
            continue
        call_id = q.callid if q.number == 1 else f"{q.callid}#{q.number}"
        if call_id in stored:
            summary.already_stored += 1
            continue
        candidates.append((q, end))
    past: deque[PastCall] = deque()
    if facts.first_at is not None and facts.last_at is not None:
        horizon = core.config.history_horizon + (facts.last_at - facts.first_at)
        past.extend(await load_past_calls(engine, server_id, float(facts.last_at), horizon))
    store = RowUpserter(engine, server_id, settings.credit_policy)
    batch: list[Effect] = []
    pending: list[tuple[float, int, Entry]] = []  # finished when the sweep passes their end

    async def flush() -> None:
        if batch:
            await store.write([e for e in batch if isinstance(e, CallFinished)])
            summary.written += sum(isinstance(e, CallFinished) for e in batch)
            batch.clear()
            say(f"{summary.written} of {len(candidates)} calls written")

    async def finish_until(t: float) -> None:
        while past and past[0].ended_at <= t:
            core.history.add(past.popleft())
        while pending and pending[0][0] <= t:
            end, _, entry = heapq.heappop(pending)
            while past and past[0].ended_at <= end:
                core.history.add(past.popleft())
            core.calls.record(entry, end, batch)
            if len(batch) >= BATCH:
                await flush()

    for seq, (q, end) in enumerate(sorted(candidates, key=lambda c: (c[0].entered or 0, c[0].callid))):
        await finish_until(float(q.entered or 0))
        entry = entry_from_queue_log(core.calls, q, facts.restarts)
        if "agent" in entry.unknown and q.agent_name:
            summary.unknown_agents.add(q.agent_name)
        heapq.heappush(pending, (float(end), seq, entry))
    await finish_until(float("inf"))
    await flush()
    return summary
