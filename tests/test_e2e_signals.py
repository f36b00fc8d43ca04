"""Shutdown and restart with real signals: `acd run` and `acd sim` as separate processes.

- SIGTERM under load drains the queue through the core, flushes the writer and exits 0: every call
  record the daemon produced is a row.
- A second SIGTERM while stopping exits at once, non-zero.
- SIGKILL, then a restart on the same database: no row doubles; calls the new process finds in
  progress are adopted as partial; each start records the gap.
- A crashed task takes the process down with a non-zero code (so systemd restarts it).

Every wait is on a condition (rows written, calls adopted) with a generous deadline, never a
fixed sleep: on a loaded machine the tests take longer, they do not fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.credentials import random_secret
from tests.support.ports import free_port, healthz
from tests.support.waiting import wait_until

ACD = [sys.executable, "-m", "acd.cli"]
SECRET = random_secret()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    sim_args = ["--speed", "20", "--rate", "150", "--agents", "10", "--seed", "9", "--username", "acd"]
    proc = subprocess.Popen(
        [*ACD, "sim", "--port", str(port), *sim_args, "--secret", SECRET],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert b"AMI on" in line, line
    yield port
    proc.terminate()
    proc.wait(10)


class Daemon:
    """``acd run`` as a process of its own (``env``: more ACD_* variables, or other values)."""

    def __init__(self, tmp_path: Path, ami_port: int, name: str, **more: str) -> None:
        self.http = free_port()
        self.log = tmp_path / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}
        env.update(
            {
                "ACD_AMI__PORT": str(ami_port),
                "ACD_AMI__SECRET": SECRET,
                "ACD_AMI__RECONNECT_MIN": "0.1",
                "ACD_HTTP__PORT": str(self.http),
                "ACD_ROUTING__PORT": "0",
                "ACD_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}",
                "ACD_DATABASE__SPOOL_DIR": str(tmp_path / "spool"),
                "ACD_QUEUE_LOG__PATH": str(tmp_path / "queue_log"),  # its own, not the machine's
                "ACD_SPEED": "20",
                "ACD_LOG_FORMAT": "json",
                **more,
            }
        )
        self.fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            [*ACD, "run"], stdout=self.fh, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )

    def health(self) -> dict[str, Any] | None:
        return healthz(self.http)

    def wait_connected(self, timeout: float = 30) -> None:
        def connected() -> bool:
            assert self.proc.poll() is None, self.log.read_text()
            h = self.health()
            return bool(h and h["ami_connected"] and h["events"] > 0)

        wait_until(connected, timeout, what="the daemon's AMI session", describe=self.log.read_text)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.fh.close()
        return code

    def log_events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


def rows(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(tmp_path / "acd.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def count(tmp_path: Path, where: str = "1") -> int:
    """Rows in ``calls`` (0 while the daemon has not created the table yet)."""
    try:
        (n,) = rows(tmp_path, f"select count(*) from calls where {where}")[0]
    except sqlite3.OperationalError:
        return 0
    return int(n)


def test_sigterm_under_load_flushes_every_record(tmp_path: Path, sim: int) -> None:
    daemon = Daemon(tmp_path, sim, "run")
    daemon.wait_connected()
    wait_until(lambda: count(tmp_path) >= 25, 90, what="25 call records")  # a busy center
    assert daemon.stop() == 0
    stopped = [e for e in daemon.log_events() if e.get("event") == "stopped"]
    assert stopped, daemon.log.read_text()
    calls = stopped[-1]["calls"]
    assert calls > 20
    assert count(tmp_path) == calls
    assert not list((tmp_path / "spool").glob("*.wal")), "the journal is empty once the database has it all"


def test_second_signal_forces_exit(tmp_path: Path, sim: int) -> None:
    daemon = Daemon(tmp_path, sim, "run")
    daemon.wait_connected()
    # Two different signals, sent back to back: both are delivered (two SIGTERMs could merge).
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.stop(signal.SIGINT, timeout=10) == 1
    assert any(e.get("event") == "forced_exit" for e in daemon.log_events())


def test_sigkill_then_restart_doubles_nothing_and_adopts_calls_in_progress(tmp_path: Path, sim: int) -> None:
    first = Daemon(tmp_path, sim, "first")
    first.wait_connected()
    wait_until(lambda: count(tmp_path) >= 10, 90, what="10 call records")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    before = count(tmp_path)
    second = Daemon(tmp_path, sim, "second")
    second.wait_connected()
    # Calls in progress at the restart are adopted, marked partial, and written when they end.
    wait_until(
        lambda: count(tmp_path, "partial") > 0 and count(tmp_path) >= before + 10,
        90,
        what="adopted calls and new records after the restart",
    )
    assert second.stop() == 0
    total, distinct = rows(
        tmp_path, "select count(*), count(distinct server_id || uniqueid || '#' || entry) from calls"
    )[0]
    assert total == distinct and total > before
    (partial,) = rows(tmp_path, "select count(*) from calls where partial")[0]
    assert partial > 0, "calls in progress at the restart are adopted and marked partial"
    gaps = rows(tmp_path, "select reason from gaps")
    assert len(gaps) >= 2, "each start records the gap it could not see"


async def test_crashed_task_exits_non_zero(tmp_path: Path) -> None:
    from acd.daemon import Daemon as InProcess
    from acd.daemon import run_daemon
    from acd.settings import Settings

    settings = Settings(
        ami={"port": free_port(), "reconnect_min": 0.1},  # type: ignore[arg-type]
        database={
            "url": f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}",  # type: ignore[arg-type]
            "spool_dir": str(tmp_path / "spool"),
        },
        http={"port": 0},  # type: ignore[arg-type]
        routing={"port": 0},  # type: ignore[arg-type]
        queue_log={"path": str(tmp_path / "queue_log")},  # type: ignore[arg-type]  # not the machine's
    )

    async def boom() -> None:
        await asyncio.sleep(0.2)
        raise RuntimeError("a bug in a task")

    def ready(daemon: InProcess) -> None:
        daemon._spawn(boom(), "boom")

    assert await asyncio.wait_for(run_daemon(settings, ready=ready), 30) == 1
