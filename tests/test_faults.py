"""Fault injection: `acd run` and `acd sim` as separate processes, a real PostgreSQL, and the faults an
SRE would try before trusting acd. Every case counts the stored calls against the simulator's
truth and reports lost / doubled / wrong (what queue_log cannot tell is counted as unknown, not
wrong); every case must read 0 / 0 / 0.

- the journal's disk fills up (a small tmpfs), then has room again;
- the journal's file system is remounted read-only, then read-write;
- the database goes down, and acd is killed (SIGKILL), stopped twice (SIGTERM then SIGINT: the
  forced exit), or its writer crashes; acd is started again once the database is back;
- acd is SIGKILLed with calls in progress and started again after they ended: queue_log has them;
- Asterisk restarts, and AMI drops for a while, with transfers in flight.

Cases that need ``mount`` are skipped, saying why, where mounting is not allowed. The simulator
runs at 40x, so a case is a few simulated minutes of a busy queue in a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.pg_fixtures import PgServer
from tests.support.credentials import login
from tests.truth_compare import Tally, tally

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parent.parent
SPEED = 40.0
TOKEN = "fault-suite-supervisor"
RESULTS: dict[str, str] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Acd:
    """One `acd run` process."""

    proc: subprocess.Popen[bytes]
    http: int
    log: Path

    def get(self, path: str) -> tuple[int, str]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError:
            return 0, ""

    def post_outcome(self, call_id: str) -> int:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http}/api/v1/calls/{call_id}/outcome",
            data=json.dumps({"disposition": "resolved"}).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code

    def health(self) -> dict[str, Any]:
        status, body = self.get("/healthz")
        return json.loads(body) if status == 200 else {}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


@dataclass
class Bench:
    """A simulated call center, a PostgreSQL database and the acd processes of one case."""

    tmp: Path
    pg: PgServer
    url: str
    journal: Path
    qlog: Path
    truth: Path
    sim: subprocess.Popen[bytes] | None = None
    sim_port: int = 0
    calls: int = 0
    acds: list[Acd] = field(default_factory=list)

    def start_sim(self, calls: int, seed: int, extra: tuple[str, ...] = ()) -> None:
        cred = login()
        self.calls = calls
        self.sim_port = free_port()
        self.sim = subprocess.Popen(
            [
                sys.executable, "-m", "acd.cli", "sim", "--port", str(self.sim_port),
                "--speed", str(SPEED), "--seed", str(seed), "--rate", "30", "--agents", "6",
                "--calls", str(calls), "--hold", "--linger", "--truth", str(self.truth),
                "--queue-log", str(self.qlog),
                "--username", cred["username"], "--secret", cred["secret"], "--cutoff-share", "0.12",
                *extra,
            ],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.tmp,
        )  # fmt: skip
        assert self.sim.stdout is not None
        line = self.sim.stdout.readline()
        assert b"AMI on" in line, line

    def start_acd(self, name: str, *, wrapper: str | None = None, **env: str) -> Acd:
        cred = login()
        http = free_port()
        log = self.tmp / f"{name}.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}
        environ.update(
            {
                "PYTHONPATH": str(ROOT),
                "ACD_AMI__PORT": str(self.sim_port),
                "ACD_AMI__USERNAME": cred["username"],
                "ACD_AMI__SECRET": cred["secret"],
                "ACD_AMI__RECONNECT_MIN": "0.2",
                "ACD_AMI__RECONNECT_MAX": "0.5",
                "ACD_DATABASE__URL": self.url,
                "ACD_DATABASE__SPOOL_DIR": str(self.journal),
                "ACD_QUEUE_LOG__PATH": str(self.qlog),
                "ACD_HTTP__PORT": str(http),
                "ACD_ROUTING__PORT": "0",
                "ACD_AFFINITY__ENABLED": "false",
                "ACD_SPEED": str(SPEED),
                "ACD_LOG_FORMAT": "json",
                "ACD_API_TOKENS": json.dumps([{"token": TOKEN, "role": "supervisor"}]),
                **env,
            }
        )
        cmd = [sys.executable, "-c", wrapper] if wrapper else [sys.executable, "-m", "acd.cli", "run"]
        fh = log.open("ab")
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=environ, cwd=self.tmp)
        acd = Acd(proc, http, log)
        self.acds.append(acd)
        until(lambda: bool(acd.health()) or not acd.alive(), 60, f"{name} to serve /healthz")
        assert acd.alive(), log.read_text()[-3000:]
        return acd

    def calls_done(self) -> int:
        if not self.truth.exists():
            return 0
        return sum(1 for line in self.truth.read_text().splitlines() if line.strip())

    def wait_sim(self, timeout: float = 180) -> None:
        """Every call of the run has ended. The simulated PBX stays up afterwards, as a real one
        does: an acd started late (a slow database start) still connects and fills its gap."""
        assert self.sim is not None
        until(lambda: self.calls_done() >= self.calls or self.sim.poll() is not None, timeout, "the calls")
        assert self.sim.poll() is None, "the simulator ended early"

    def drain(self, acd: Acd, timeout: float = 60) -> None:
        """Everything the core finished is in the database, and nothing is left in the core."""

        last: dict[str, Any] = {}

        def idle() -> bool:
            last.update(acd.health())
            busy = ("queue", "calls_in_progress", "write_backlog")
            return all(last.get(k) == 0 for k in busy) and last.get("gap_pending") is False

        try:
            until(idle, timeout, "acd to finish every call and write it")
        except AssertionError as err:
            raise AssertionError(f"{err}; /healthz last said {last}") from None

    def rows(self) -> dict[str, dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        dsn = self.url.replace("postgresql+asyncpg", "postgresql")
        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            return {r["call_id"]: dict(r) for r in conn.execute("select * from calls")}

    def answered_call(self) -> str:
        """A call of this run a rep answered and acd stored: an outcome posted on it is refused or
        taken for what acd can promise, never for the id."""
        answered: list[str] = []

        def stored() -> bool:
            rows = self.rows().items()
            answered[:] = sorted(c for c, r in rows if r["answered_at"] is not None and r["agent"])
            return bool(answered)

        until(stored, 60, "an answered call in the database")
        return answered[0]

    def gaps(self) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        dsn = self.url.replace("postgresql+asyncpg", "postgresql")
        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            return list(conn.execute("select * from gaps order by ended_at"))

    def tally(self, case: str) -> Tally:
        truth = [json.loads(line) for line in self.truth.read_text().splitlines() if line.strip()]
        result = tally(truth, self.rows())
        RESULTS[case] = result.line
        print(f"\n[fault] {case}: {result.line}")
        assert result.clean, "\n".join(result.lost[:20] + result.doubled[:20] + result.wrong[:20])
        return result

    def close(self) -> None:
        for acd in self.acds:
            if acd.alive():
                acd.stop(signal.SIGKILL, 10)
        if self.sim is not None and self.sim.poll() is None:
            self.sim.terminate()
            self.sim.wait(10)


@pytest.fixture
def bench(tmp_path: Path, owned_pg_server: PgServer, pg_url: str) -> Iterator[Bench]:
    pg_server = owned_pg_server
    b = Bench(
        tmp_path, pg_server, pg_url, tmp_path / "journal", tmp_path / "queue_log", tmp_path / "truth.jsonl"
    )
    try:
        yield b
    finally:
        b.close()
        if not _postgres_running(pg_server):
            pg_server.start()  # a case that failed with the database down leaves it up


def _postgres_running(pg: PgServer) -> bool:
    try:
        os.kill(pg.postmaster_pid(), 0)
    except (OSError, ValueError):
        return False
    return True


@pytest.fixture
def tmpfs(bench: Bench) -> Iterator[Path]:
    """A small tmpfs of our own for the journal (skipped where mounting is not allowed). Its
    processes are stopped before it is unmounted, and it is never left mounted: a mount left in
    pytest's temporary directory would break every later run's clean-up on this machine."""
    where = bench.tmp / "small-disk"
    where.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)], capture_output=True, text=True
    )
    if made.returncode != 0:
        why = made.stderr.strip() or "mount failed"
        pytest.skip(f"cannot mount a tmpfs here ({why}): the disk cases need CAP_SYS_ADMIN")
    try:
        yield where
    finally:
        bench.close()  # acd's journal lives here: it goes first
        subprocess.run(["mount", "-o", "remount,rw", str(where)], capture_output=True)
        for _ in range(50):
            if subprocess.run(["umount", str(where)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "--lazy", str(where)], capture_output=True)


def metric(acd: Acd, name: str) -> float | None:
    _, text = acd.get("/metrics")
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def journal_state(acd: Acd) -> str:
    return str(acd.health().get("journal"))


# -- the disk under the journal ---------------------------------------------------------------


def test_disk_full_keeps_running_and_recovers(bench: Bench, tmpfs: Path) -> None:
    bench.journal = tmpfs / "journal"
    filler = tmpfs / "filler"
    bench.start_sim(70, seed=101)
    acd = bench.start_acd("full")
    until(lambda: bench.calls_done() >= 5, 60, "traffic")
    call = bench.answered_call()

    def full() -> bool:
        """The disk has no byte left, not even what the journal gave back by deleting segments
        the database had taken (it does so while it cannot write)."""
        with contextlib.suppress(OSError), filler.open("ab") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        return journal_state(acd) == "disk_full" and metric(acd, "acd_journal_bytes") == 0.0

    until(full, 60, "the journal to notice the full disk and give back its space")
    assert full(), "the journal keeps saying disk_full while the disk is full"
    assert acd.alive(), "acd must keep running on a full disk"
    assert metric(acd, "acd_journal_up") == 0.0
    assert acd.post_outcome(call) == 503, "outcomes wait while nothing can be made durable"
    time.sleep(1.5)  # calls go on meanwhile: kept in memory, written to the database
    assert journal_state(acd) == "disk_full", "no recovery is declared while the disk is still full"
    filler.unlink()
    until(lambda: journal_state(acd) == "ok", 60, "the journal to recover by itself")
    assert acd.post_outcome(call) == 201, "once the journal writes again, the outcome is taken"
    bench.wait_sim()
    bench.drain(acd)
    assert metric(acd, "acd_journal_dropped_records_total") == 0.0
    assert acd.stop() == 0
    events = {e.get("event") for e in acd.logs()}
    assert {"journal_cannot_write", "journal_recovered"} <= events
    bench.tally("disk full")


def test_read_only_file_system_keeps_running_and_recovers(bench: Bench, tmpfs: Path) -> None:
    bench.journal = tmpfs / "journal"
    bench.start_sim(70, seed=102)
    acd = bench.start_acd("ro")
    until(lambda: bench.calls_done() >= 5, 60, "traffic")
    call = bench.answered_call()

    def remount(mode: str) -> bool:
        done = subprocess.run(["mount", "-o", f"remount,{mode}", str(tmpfs)], capture_output=True)
        return done.returncode == 0

    until(lambda: remount("ro"), 30, "the remount read-only (acd holds no file open for writing)")
    until(lambda: journal_state(acd) == "read_only", 60, "the journal to notice the read-only disk")
    assert acd.alive() and acd.post_outcome(call) == 503
    time.sleep(1.5)
    assert journal_state(acd) == "read_only", "no recovery is declared while the disk is read-only"
    until(lambda: remount("rw"), 30, "the remount read-write")
    until(lambda: journal_state(acd) == "ok", 60, "the journal to recover by itself")
    assert acd.post_outcome(call) == 201
    bench.wait_sim()
    bench.drain(acd)
    assert acd.stop() == 0
    bench.tally("read-only remount")


# -- acd dies while the database is down ------------------------------------------------------


def _database_down_then(
    bench: Bench, stop: Callable[[Acd], None], name: str, *, seed: int, wrapper: str | None = None
) -> None:
    bench.start_sim(70, seed=seed)
    first = bench.start_acd(f"{name}-1", wrapper=wrapper)
    until(lambda: bench.calls_done() >= 10, 60, "traffic")
    bench.pg.kill()
    until(lambda: (first.health().get("write_backlog") or 0) >= 5, 60, "records to wait for the database")
    stop(first)
    assert not first.alive()
    time.sleep(1.0)  # calls end while acd is down: queue_log will have them
    bench.pg.start()
    second = bench.start_acd(f"{name}-2")
    bench.wait_sim()
    bench.drain(second)
    assert second.stop() == 0
    result = bench.tally(name)
    assert result.sources.get("queue_log", 0) + result.sources.get("merged", 0) > 0


def test_sigkill_during_a_database_outage(bench: Bench) -> None:
    _database_down_then(bench, lambda acd: acd.stop(signal.SIGKILL), "SIGKILL, database down", seed=103)


def test_second_sigterm_during_a_database_outage(bench: Bench) -> None:
    def twice(acd: Acd) -> None:
        acd.proc.send_signal(signal.SIGTERM)
        assert acd.stop(signal.SIGINT) == 1
        assert any(e.get("event") == "forced_exit" for e in acd.logs())

    _database_down_then(bench, twice, "second SIGTERM, database down", seed=104)


# The writer crashes (a bug) once a file appears: the task dies, the process exits 1 (systemd would
# start it again), and nothing it had accepted may be lost.
CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import acd.store.writer as w

    pause = w.Writer._pause

    async def crash_when_told(self, delay):
        if Path("crash-writer").exists():
            raise RuntimeError("a bug in the writer (fault injection)")
        await pause(self, delay)

    w.Writer._pause = crash_when_told
    from acd.cli import main
    sys.exit(main(["run"]))
    """
)


def test_crashed_writer_during_a_database_outage(bench: Bench) -> None:
    def crash(acd: Acd) -> None:
        (bench.tmp / "crash-writer").write_text("now")
        assert acd.proc.wait(60) == 1
        (bench.tmp / "crash-writer").unlink()
        assert any(e.get("event") == "task_crashed" and e.get("task") == "writer" for e in acd.logs())

    _database_down_then(bench, crash, "crashed writer, database down", seed=108, wrapper=CRASHING_WRITER)


# -- calls acd did not see ---------------------------------------------------------------------


def test_sigkill_with_calls_in_progress_and_restart_after_they_ended(bench: Bench) -> None:
    bench.start_sim(80, seed=105)
    first = bench.start_acd("killed")
    until(lambda: bench.calls_done() >= 15, 60, "traffic")
    first.stop(signal.SIGKILL)
    time.sleep(3.0)  # two simulated minutes: the calls in progress end, new ones come and go
    second = bench.start_acd("after")
    bench.wait_sim()
    bench.drain(second)
    assert second.stop() == 0
    result = bench.tally("SIGKILL with calls in progress, restart after they ended")
    assert result.sources.get("queue_log", 0) > 0, "calls that ended while acd was down come from queue_log"
    startup = [g for g in bench.gaps() if g["reason"] == "startup" and g["started_at"] is not None]
    assert startup and startup[-1]["calls_recovered"] > 0


def test_asterisk_restart_with_transfers_in_flight(bench: Bench) -> None:
    bench.start_sim(80, seed=106, extra=("--transfer-share", "0.5", "--fault", "restart@120:0.05"))
    acd = bench.start_acd("restart")
    bench.wait_sim()
    bench.drain(acd)
    assert acd.stop() == 0
    bench.tally("Asterisk restart, transfers in flight")
    assert any(g["reason"] == "asterisk_restart" for g in bench.gaps())


def test_ami_drop_with_transfers_in_flight(bench: Bench) -> None:
    bench.start_sim(80, seed=107, extra=("--transfer-share", "0.5", "--fault", "drop@120"))
    acd = bench.start_acd("drop", ACD_AMI__RECONNECT_MIN="2.0", ACD_AMI__RECONNECT_MAX="2.0")
    bench.wait_sim()
    bench.drain(acd)
    assert acd.stop() == 0
    result = bench.tally("AMI drop (2 s, 80 simulated s), transfers in flight")
    gaps = [g for g in bench.gaps() if g["reason"] == "ami_disconnect"]
    assert gaps and gaps[-1]["queue_log"] == "read"
    assert result.sources.get("queue_log", 0) + result.sources.get("merged", 0) > 0
