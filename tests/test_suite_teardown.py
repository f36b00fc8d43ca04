"""A test run that is stopped leaves no server behind: a pytest run holding the session's
PostgreSQL and a Prometheus is stopped with SIGTERM (a CI job's timeout) or SIGKILL (no teardown
at all), and afterwards no process of that cluster's data directory, nor that Prometheus, runs
(tests/support/lifeline.py says how)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.pg_fixtures import _find_bin
from tests.support.prometheus import PROMETHEUS
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent

# Run as its own pytest session with this suite's conftest as a plugin: the session's cluster, a
# Prometheus the test started, then it waits to be stopped.
HOLDER = """
import asyncio, json, os
from pathlib import Path

from tests.support.ports import free_port
from tests.support.prometheus import start_prometheus, stop_prometheus


async def test_hold(pg_server, tmp_path):
    prometheus = start_prometheus(tmp_path, free_port(), free_port())
    try:
        report = {"datadir": str(pg_server.datadir), "postmaster": pg_server.postmaster_pid(),
                  "prometheus": prometheus.pid}
        Path(os.environ["HOLDER_REPORT"]).write_text(json.dumps(report))
        await asyncio.sleep(3600)
    finally:
        stop_prometheus(prometheus)
"""

pytestmark = [
    pytest.mark.skipif(_find_bin("initdb") is None, reason="PostgreSQL server binaries not installed"),
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (apt-get install prometheus)"),
    pytest.mark.skipif(bool(os.environ.get("ACD_TEST_DATABASE_URL")), reason="needs a cluster of its own"),
]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""  # gone


def alive(pid: int, *words: str) -> bool:
    """The process ``pid`` runs and is still the one named by ``words`` (not a reused PID)."""
    text = cmdline(pid)
    return bool(text) and all(w in text for w in words)


def of_datadir(datadir: str) -> list[int]:
    """Every process whose command line names ``datadir`` (the postmaster says -D DATADIR)."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [pid for pid in pids if datadir in cmdline(pid)]


@pytest.fixture
def holder(tmp_path: Path) -> Any:
    (tmp_path / "test_holder.py").write_text(HOLDER)
    report = tmp_path / "report.json"
    env = {**os.environ, "HOLDER_REPORT": str(report), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
         "-p", "tests.conftest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_holder.py")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(
            lambda: report.exists() or proc.poll() is not None, 180, what="the holding run's servers up"
        )
        assert report.exists(), proc.communicate()[0].decode()[-3000:]
        yield proc, json.loads(report.read_text())
    finally:
        if proc.poll() is None:
            proc.kill()  # by its PID: a failed check leaves nothing running either
        proc.communicate(timeout=120)


def test_sigterm_tears_down_postgresql_and_prometheus(holder: Any) -> None:
    proc, started = holder
    datadir, postmaster, prometheus = started["datadir"], started["postmaster"], started["prometheus"]
    assert alive(postmaster, datadir) and alive(prometheus, "prometheus")
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    # Stopped by the session's own teardown: gone when pytest has exited, no waiting.
    assert not alive(postmaster, datadir) and of_datadir(datadir) == []
    assert not Path(datadir).parent.exists()
    assert not alive(prometheus, "prometheus")


@pytest.mark.slow
def test_sigkill_leaves_nothing_either(holder: Any) -> None:
    proc, started = holder
    datadir, postmaster, prometheus = started["datadir"], started["postmaster"], started["prometheus"]
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    # No teardown ran: the watchdog stops the cluster, the parent-death signal stops Prometheus.
    wait_until(
        lambda: not alive(postmaster, datadir) and not of_datadir(datadir), 120, what="the cluster stopping"
    )
    wait_until(lambda: not Path(datadir).parent.exists(), 60, what="the cluster's folder removed")
    wait_until(lambda: not alive(prometheus, "prometheus"), 60, what="Prometheus stopping")
