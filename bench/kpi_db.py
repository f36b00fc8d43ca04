"""Builds a SQLite database holding N days of call rows for bench_metrics.py's KPI measurement.

The schema comes from the store's own migrations; rows are bulk-inserted with sqlite3 (the writer's
batching is not what is being measured here). Caller keys are drawn from a pool sized so that a
realistic share of callers call again within a day or a week.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from acd.store.engine import make_engine
from acd.store.migrate import upgrade

__all__ = ["build_database"]

_CALL_COLUMNS = [
    "server_id",
    "uniqueid",
    "entry",
    "call_id",
    "linkedid",
    "queue",
    "personal",
    "caller_key",
    "joined_at",
    "ended_at",
    "answered_at",
    "outcome",
    "exit_reason",
    "agent",
    "agent_name",
    "wait_seconds",
    "talk_seconds",
    "cut_off",
    "agent_released_short",
    "partial",
]


async def build_database(
    path: Path,
    *,
    days: int,
    agents: int,
    queues: int,
    calls_per_day: int,
    server_id: str = "asterisk",
    seed: int = 3,
    now: float = 1_800_000_000.0,
) -> tuple[int, float]:
    """Write ``days`` days of calls ending at ``now``; returns (call rows written, now)."""
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    await engine.dispose()
    rng = random.Random(seed)
    keys = max(1000, calls_per_day * 3)
    step = 86400.0 / calls_per_day
    start = now - days * 86400.0
    db = sqlite3.connect(path)
    call_sql = (
        f"INSERT INTO calls ({', '.join(_CALL_COLUMNS)}) VALUES ({', '.join('?' * len(_CALL_COLUMNS))})"
    )
    outcome_sql = (
        "INSERT INTO outcomes (server_id, linkedid, call_id, agent, disposition, resolved, notes, points,"
        " written_by, written_at, source) VALUES (?, ?, ?, ?, 'resolved', 1, ?, NULL, 'bench', ?, 'api')"
    )
    total = days * calls_per_day
    batch: list[tuple[object, ...]] = []
    outcomes: list[tuple[object, ...]] = []
    for n in range(total):
        joined = start + n * step
        cid = f"{int(joined)}.{n}"
        wait = rng.expovariate(1 / 15)
        roll = rng.random()
        a = rng.randrange(agents)
        if roll < 0.8:
            talk = rng.expovariate(1 / 180)
            batch.append((
                server_id, cid, 1, cid, cid, f"q{rng.randrange(queues):02d}", 0, f"k{rng.randrange(keys)}",
                joined, joined + wait + talk, joined + wait, "answered", None, f"PJSIP/{1000 + a}",
                f"Agent {a}", wait, talk, int(rng.random() < 0.03), int(rng.random() < 0.02), 0,
            ))  # fmt: skip
            if rng.random() < 0.7:
                notes = "notes" if rng.random() < 0.85 else ""
                outcomes.append((server_id, cid, cid, f"PJSIP/{1000 + a}", notes, joined + wait + talk + 30))
        else:
            outcome = "abandoned" if roll < 0.93 else "exited"
            batch.append((
                server_id, cid, 1, cid, cid, f"q{rng.randrange(queues):02d}", 0, f"k{rng.randrange(keys)}",
                joined, joined + wait, None, outcome, "long" if wait >= 10 else "short", None, None,
                wait, 0.0, 0, 0, 0,
            ))  # fmt: skip
        if len(batch) >= 50_000:
            db.executemany(call_sql, batch)
            db.executemany(outcome_sql, outcomes)
            batch.clear()
            outcomes.clear()
    db.executemany(call_sql, batch)
    db.executemany(outcome_sql, outcomes)
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return total, now
