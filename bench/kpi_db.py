"""Builds a database holding N days of a call center's records as the daemon writes them: entry rows
(with how each is counted), customer calls, outcomes, sales and their credit shares. Then the
store's own bulk pass links each customer call to its caller's next contact and marks the called-back
cut-offs exempt, as ``acd db backfill`` does.

SQLite is filled with sqlite3 ``executemany`` in large transactions, PostgreSQL with ``COPY``
(psycopg): the writer's batching is not what the KPI benchmarks measure. The schema comes from the
store's migrations. Caller keys are drawn from a pool sized so that a realistic share of callers
call again within a day or a week; 3 % of answered calls are cut off and most of those called back,
some through their rep's personal queue first.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from acd.store.backfill import link_all
from acd.store.database import make_engine
from acd.store.migrate import upgrade

__all__ = ["build_database"]

CALL_COLUMNS = (
    "server_id", "uniqueid", "entry", "call_id", "linkedid", "queue", "personal", "caller_key",
    "joined_at", "ended_at", "answered_at", "outcome", "exit_reason", "agent", "agent_name",
    "wait_seconds", "talk_seconds", "ended_by", "cut_off", "cut_off_reasons", "agent_released_short",
    "callback_of", "partial", "leg_queue", "leg_counted", "leg_wait", "leg_closing",
)  # fmt: skip
CUSTOMER_COLUMNS = (
    "server_id", "linkedid", "queue", "caller_key", "keyed", "joined_at", "answered_at", "ended_at",
    "outcome", "live", "final", "agent", "agent_name", "wait_seconds", "talk_seconds", "ended_by",
    "cut_off", "cut_off_reasons", "agent_released_short", "partial", "legs", "callback_of",
    "callback_result", "chain_id", "chain_seq", "updated_at", "disposition", "resolved", "notes_state",
    "outcome_at",
)  # fmt: skip
OUTCOME_COLUMNS = (
    "server_id", "linkedid", "call_id", "agent", "disposition", "resolved", "notes", "points",
    "written_by", "written_at", "source",
)  # fmt: skip
SALE_COLUMNS = (
    "server_id", "sale_id", "chain_id", "seq", "points", "disputed", "settled", "order_open",
    "original_call", "closer_call", "queue", "at", "updated_at", "policy", "adjusted",
)  # fmt: skip
CREDIT_COLUMNS = (
    "server_id", "sale_id", "chain_id", "agent", "agent_name", "linkedid", "points", "attribution",
    "adjusted", "queue", "at",
)  # fmt: skip
TABLES = {
    "calls": CALL_COLUMNS,
    "customer_calls": CUSTOMER_COLUMNS,
    "outcomes": OUTCOME_COLUMNS,
    "sales": SALE_COLUMNS,
    "sale_credits": CREDIT_COLUMNS,
}
Rows = dict[str, list[tuple[Any, ...]]]


def _rows(
    *, days: int, agents: int, queues: int, calls_per_day: int, server_id: str, seed: int, now: float
) -> Iterator[Rows]:
    """The records, a day at a time (so 5M rows never sit in memory at once)."""
    rng = random.Random(seed)
    keys = max(1000, calls_per_day * 3)
    step = 86400.0 / calls_per_day
    start = now - days * 86400.0
    cut_offs: list[tuple[str, str, int, float]] = []  # (linkedid, key, agent, ended) awaiting a callback
    total = days * calls_per_day
    batch: Rows = {name: [] for name in TABLES}
    for n in range(total):
        joined = start + n * step
        cid = f"{int(joined)}.{n}"
        q = f"q{rng.randrange(queues):02d}"
        key = f"tel:{rng.randrange(keys)}"
        a = rng.randrange(agents)
        callback: tuple[str, str, int, float] | None = None
        if cut_offs and cut_offs[0][3] < joined - 3600:
            cut_offs.pop(0)  # its callback window passed
        if cut_offs and rng.random() < 0.4:
            callback = cut_offs.pop(0)
            key = callback[1]
        wait = rng.expovariate(1 / 15)
        roll = rng.random()
        agent, name = f"PJSIP/{1000 + a}", f"Agent {a}"
        entry_rows: list[tuple[Any, ...]] = []
        first_joined = joined
        if callback is not None and rng.random() < 0.6:  # waited for the rep in their personal queue
            personal_wait = rng.uniform(0, 30)
            entry_rows.append((
                server_id, cid, 1, cid, cid, f"acd-agent-{callback[2]}", True, key, joined,
                joined + personal_wait, None, "exited", "timeout", None, None, personal_wait, 0.0, "system",
                False, None, False, callback[0], False, q, False, None, False,
            ))  # fmt: skip
            joined += personal_wait
        entry = len(entry_rows) + 1
        eid = cid if entry == 1 else f"{cid}#{entry}"
        leg_wait = wait + (joined - first_joined)
        if roll < 0.8:
            talk = rng.expovariate(1 / 180)
            cut = rng.random() < 0.03
            short = not cut and rng.random() < 0.02
            ended = joined + wait + talk
            ended_by = "caller" if cut else rng.choice(("caller", "agent"))
            reasons = json.dumps(["caller_cause_41"]) if cut else None
            entry_rows.append((
                server_id, cid, entry, eid, cid, q, False, key, joined, ended, joined + wait, "answered",
                None, agent, name, wait, talk, ended_by, cut, reasons, short,
                callback[0] if callback else None, False, q, True, leg_wait, True,
            ))  # fmt: skip
            outcome = rng.random() < 0.7
            notes = ("written" if rng.random() < 0.85 else "empty") if outcome else None
            points = 40.0 if outcome and rng.random() < 0.1 else None
            result = None
            if callback is not None:
                result = "original_agent" if callback[2] == a else "other_agent"
            chain = callback[0] if callback else cid
            batch["customer_calls"].append((
                server_id, cid, q, key, True, first_joined, joined + wait, ended, "answered", False, True,
                agent, name, leg_wait, talk, ended_by, cut, reasons, short, False, 1,
                callback[0] if callback else None, result, chain, 1 if callback else 0, ended,
                "sale" if outcome else None, True if outcome else None, notes,
                ended + 60 if outcome else None,
            ))  # fmt: skip
            if outcome:
                batch["outcomes"].append((
                    server_id, cid, eid, agent, "sale", True, "notes" if notes == "written" else "",
                    points, agent, ended + 60, "api",
                ))  # fmt: skip
            if points is not None:
                sale = f"{chain}/{n}"
                batch["sales"].append((
                    server_id, sale, chain, 1, points, False, True, False, chain, cid, q, first_joined,
                    ended + 60, "split", False,
                ))  # fmt: skip
                batch["sale_credits"].append(
                    (server_id, sale, chain, agent, name, cid, points, "own_call", False, q, first_joined)
                )
            if cut:
                cut_offs.append((cid, key, a, ended))
        else:
            outcome_kind = "abandoned" if roll < 0.93 else "exited"
            ended = joined + wait
            reason = ("long" if leg_wait >= 10 else "short") if outcome_kind == "abandoned" else "timeout"
            entry_rows.append((
                server_id, cid, entry, eid, cid, q, False, key, joined, ended, None, outcome_kind, reason,
                None, None, wait, 0.0, "caller" if outcome_kind == "abandoned" else "system", False, None,
                False, callback[0] if callback else None, False, q, True, leg_wait, False,
            ))  # fmt: skip
            batch["customer_calls"].append((
                server_id, cid, q, key, True, first_joined, None, ended, outcome_kind, False, True, None,
                None, leg_wait, 0.0, None, False, None, False, False, 1, callback[0] if callback else None,
                outcome_kind if callback else None, callback[0] if callback else cid, 1 if callback else 0,
                ended, None, None, None, None,
            ))  # fmt: skip
        batch["calls"].extend(entry_rows)
        if (n + 1) % calls_per_day == 0 or n + 1 == total:
            yield batch
            batch = {name: [] for name in TABLES}


def _insert_sqlite(path: Path, rows: Rows) -> int:
    db = sqlite3.connect(path)
    try:
        for table, columns in TABLES.items():
            if rows[table]:
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                db.executemany(sql, rows[table])
        db.commit()
    finally:
        db.close()
    return len(rows["calls"])


def _copy_postgres(url: str, days: Sequence[Rows]) -> int:
    import psycopg

    written = 0
    parsed = make_url(url).set(drivername="postgresql")
    with psycopg.connect(parsed.render_as_string(hide_password=False)) as conn, conn.cursor() as cur:
        for rows in days:
            for table, columns in TABLES.items():
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows[table]:
                        copy.write_row(row)
            written += len(rows["calls"])
        conn.commit()
    return written


async def build_database(
    url: str,
    *,
    days: int,
    agents: int,
    queues: int,
    calls_per_day: int,
    server_id: str = "asterisk",
    seed: int = 3,
    now: float = 1_800_000_000.0,
) -> tuple[int, float]:
    """Write ``days`` days of records ending at ``now`` into the empty database ``url`` (SQLite or
    PostgreSQL); returns (entry rows written, now)."""
    import asyncio

    engine = make_engine(url, timeout=600)
    try:
        await upgrade(engine)
        backend = make_url(url).get_backend_name()
        rows = _rows(
            days=days, agents=agents, queues=queues, calls_per_day=calls_per_day, server_id=server_id,
            seed=seed, now=now,
        )  # fmt: skip
        written = 0
        if backend == "sqlite":
            path = Path(make_url(url).database or "")
            for day in rows:
                written += await asyncio.to_thread(_insert_sqlite, path, day)
        else:
            for day in rows:
                written += await asyncio.to_thread(_copy_postgres, url, [day])
        for step in ("analyze", "link", "vacuum"):  # statistics first: the linking reads by index
            async with engine.connect() as conn:
                if backend != "sqlite" and step == "vacuum":  # what autovacuum does on a live database
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    for table in TABLES:
                        await conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
                    continue
                if step == "link":
                    await link_all(conn, server_id)
                elif backend == "sqlite":
                    await conn.exec_driver_sql("ANALYZE")
                else:
                    for table in TABLES:
                        await conn.exec_driver_sql(f"ANALYZE {table}")
                await conn.commit()
    finally:
        await engine.dispose()
    return written, now
