"""``acd import queue_log``: the lab's real queue_log into a database, through the daemon's reader
and core; rotated and gzip copies; importing twice changes nothing; acd's own rows win; the agents
acd knows are named as it knows them; repeat contacts are linked as live."""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from acd.core.effects import MemberSession
from acd.queuelog.importer import import_queue_log
from acd.settings import Settings
from acd.store.migrate import prepare_database
from acd.store.upsert import RowUpserter
from tests.store_records import finished

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "ami"
LAB = FIXTURES / "queue_log"


def settings(tmp_path: Path) -> Settings:
    return Settings(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"})  # type: ignore[arg-type]


def rows(tmp_path: Path) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(tmp_path / "acd.db")
    db.row_factory = sqlite3.Row
    try:
        return {r["call_id"]: dict(r) for r in db.execute("select * from calls")}
    finally:
        db.close()


async def run_import(tmp_path: Path, files: list[Path], *, seed: list[Any] | None = None) -> Any:
    s = settings(tmp_path)
    engine = await prepare_database(s)
    try:
        if seed:
            await RowUpserter(engine, s.server_id, s.credit_policy).write(seed)
        return await import_queue_log(s, engine, files)
    finally:
        await engine.dispose()


def capture_entries(name: str) -> list[str]:
    return [
        line.split("|")[1] for line in (FIXTURES / name).read_text().splitlines() if "|ENTERQUEUE|" in line
    ]


async def test_the_lab_queue_log_becomes_rows_once(tmp_path: Path) -> None:
    # acd knows Alice and Bob from their sessions; Dave, Erin and Carol only by queue_log's names
    seed: list[Any] = [
        MemberSession("login", "support", "Local/1001@agents", "Alice", None, 1795878000.0),
        MemberSession("login", "support", "Local/1002@agents", "Bob", None, 1795878000.0),
    ]
    first = await run_import(tmp_path, [LAB], seed=seed)
    stored = rows(tmp_path)
    entered = [line for line in LAB.read_text().splitlines() if "|ENTERQUEUE|" in line]
    assert first.entries == len(entered) == len(stored) + first.incomplete
    assert first.written == len(stored) and first.incomplete == 0
    r = stored["1795878915.0"]  # answered_call: Alice, hold 2, talk 3 (COMPLETECALLER)
    assert (r["outcome"], r["agent"], r["agent_name"], r["wait_seconds"], r["talk_seconds"]) == (
        "answered", "Local/1001@agents", "Alice", 2.0, 3.0,
    )  # fmt: skip
    assert r["source"] == "queue_log" and r["partial"] and r["ended_by"] is None
    assert set(json.loads(r["unknown_fields"])) >= {"cause", "cut_off", "ended_by"}
    assert stored["1795878945.8"]["ended_by"] == "agent"  # COMPLETEAGENT says who
    assert stored["1795879074.40"]["ended_by"] == "transfer"
    assert stored["1795879020.28"]["outcome"] == "abandoned"
    assert stored["1795879158.64"]["exit_reason"] == "withdraw"
    erin = stored["1795879240.86"]
    assert erin["agent"] == "Erin" and "agent" in erin["unknown_fields"]  # no session names her
    again = await run_import(tmp_path, [LAB])
    assert again.written == 0 and again.already_stored == first.written
    assert len(rows(tmp_path)) == len(stored)


async def test_rotated_and_compressed_copies_in_any_order(tmp_path: Path) -> None:
    lines = LAB.read_text().splitlines(keepends=True)
    third = len(lines) // 3
    old = tmp_path / "logs" / "queue_log.2.gz"
    old.parent.mkdir()
    with gzip.open(old, "wt") as fh:
        fh.writelines(lines[:third])
    (tmp_path / "logs" / "queue_log.1").write_text("".join(lines[third - 5 : 2 * third]))  # overlap
    (tmp_path / "logs" / "queue_log").write_text("".join(lines[2 * third :]))
    files = [tmp_path / "logs" / n for n in ("queue_log", "queue_log.2.gz", "queue_log.1")]
    summary = await run_import(tmp_path, files)
    whole = tmp_path / "whole"
    whole.mkdir()
    reference = await run_import(whole, [LAB])
    assert summary.written == reference.written and summary.lines == len(lines)
    assert rows(tmp_path).keys() == rows(whole).keys()


async def test_acds_own_rows_win_and_repeats_are_linked(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text(
        "1000|1.1|support|NONE|ENTERQUEUE||5550001|1\n"
        "1002|1.1|support|Alice|CONNECT|2|1.2|1\n"
        "1060|1.1|support|Alice|COMPLETEAGENT|2|58|1\n"
        "2000|2.1|support|NONE|ENTERQUEUE||5550001|1\n"
        "2004|2.1|support|NONE|ABANDON|1|1|4\n"
        "5000|3.1|support|NONE|ENTERQUEUE||5550001|1\n"
        "5003|3.1|support|Bob|CONNECT|3|3.2|1\n"
        "5100|3.1|support|Bob|COMPLETECALLER|3|97|1\n"
        "6000|4.1|support|NONE|ENTERQUEUE||5550002|1\n"
        "6003|4.1|support|Bob|CONNECT|3|4.2|1\n"
    )
    # acd recorded 3.1 itself (with everything queue_log cannot tell)
    own = finished("3.1", joined_at=5000.0, caller_key="tel:5550001", cut_off=True, cause=41)
    summary = await run_import(tmp_path, [log], seed=[own])
    stored = rows(tmp_path)
    assert summary.already_stored == 1 and summary.incomplete == 1  # 4.1 has not ended
    assert stored["3.1"]["source"] in (None, "ami") and stored["3.1"]["cut_off"]
    assert stored["1.1"]["source"] == "queue_log"
    assert stored["2.1"]["repeat_of"] == "1.1"  # linked by the core as it would have been live


def test_the_command_reports_and_refuses_missing_files(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "acd.cli", "import", "queue_log", str(LAB), "--database", url],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "queue entries:" in out.stdout and "recorded" in out.stdout and "Traceback" not in out.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "acd.cli", "import", "queue_log", str(tmp_path / "nope")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_reading_is_the_daemons_reader() -> None:
    """One reader for both: the import's facts are acd.core.queuelog's, entry for entry."""
    from acd.core.queuelog import read_facts
    from acd.queuelog.importer import read_files

    assert read_files([LAB]).entries == read_facts(LAB.read_text().splitlines()).entries
    assert asyncio.iscoroutinefunction(import_queue_log)
