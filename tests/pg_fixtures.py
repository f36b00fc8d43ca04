"""A throwaway PostgreSQL server for the test session, and one fresh database per test.

CI runs as root and ``initdb``/``postgres`` refuse root, so the cluster runs as the ``postgres``
system user (``runuser``) in a directory that user can reach (pytest's own tmp dirs are 0700 under
root), on a free loopback port. ``ACD_TEST_DATABASE_URL`` points the tests at an existing server
instead (then the tests that stop the server are skipped: they need to own its postmaster).
Skipped with a clear reason only when no PostgreSQL server binaries exist.

Import into tests/conftest.py: ``from tests.pg_fixtures import db_url, owned_pg_server, pg_server,
pg_url  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.lifeline import stop_when_gone
from tests.support.ports import free_port

__all__ = ["STOP_SIGNALS", "PgServer", "own_cluster", "pg_server", "pg_url"]

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def _find_bin(name: str) -> str | None:
    for candidate in ["/usr/local/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]:
        path = Path(candidate) / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return shutil.which(name)


@dataclass
class PgServer:
    """A server the tests can stop (by the postmaster's PID) and start again on the same port."""

    host: str
    port: int
    user: str
    datadir: Path | None = None
    socket_dir: Path | None = None
    bindir: str | None = None
    owned: bool = False

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def command(self, *args: str) -> list[str]:
        """``args`` run as the user the cluster belongs to."""
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), check=True, capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        assert self.owned and self.datadir is not None and self.bindir is not None
        opts = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            f"{self.bindir}/pg_ctl", "-D", str(self.datadir), "-o", opts, "-w", "-t", "30",
            "-l", str(self.datadir.parent / "server.log"), "start",
        )  # fmt: skip

    def postmaster_pid(self) -> int:
        assert self.datadir is not None
        return int((self.datadir / "postmaster.pid").read_text().splitlines()[0])

    def kill(self) -> None:
        """Stop the postmaster by PID with SIGQUIT (immediate shutdown: no checkpoint, clients cut)."""
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        assert self.datadir is not None and self.bindir is not None
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(f"{self.bindir}/pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def create_database(self) -> str:
        import psycopg

        name = "acd_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url("postgres", "postgresql"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


@contextlib.contextmanager
def own_cluster(prefix: str = "acd-pg-") -> Iterator[PgServer | None]:
    """A new cluster of our own on a free loopback port (None when there are no server binaries),
    stopped and removed however the block ends. The stop runs with SIGINT, SIGTERM and SIGHUP held
    back, so a second Ctrl-C cannot cut it short and leave the postmaster behind; when the session
    dies with no teardown at all (SIGKILL), a watchdog stops it (tests/support/lifeline.py)."""
    initdb = _find_bin("initdb")
    if initdb is None or _find_bin("pg_ctl") is None:
        yield None
        return
    bindir = str(Path(initdb).parent)
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    datadir = base / "data"
    server = PgServer("127.0.0.1", free_port(), "postgres", datadir, base, bindir, owned=True)
    immediate_stop = server.command(f"{bindir}/pg_ctl", "-D", str(datadir), "-m", "immediate", "-w", "stop")
    with stop_when_gone(immediate_stop, marker=datadir / "postmaster.pid", folder=base):
        try:
            base.chmod(0o755)
            if os.geteuid() == 0:
                shutil.chown(base, "postgres", "postgres")
            server._run(f"{bindir}/initdb", "-D", str(datadir), "-A", "trust", "-U", "postgres", "--no-sync")
            server.start()
            yield server
        finally:
            held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                if datadir.exists():
                    server.stop()  # also when start() gave up waiting: pg_ctl stop of nothing is harmless
                shutil.rmtree(base, ignore_errors=True)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    external = os.environ.get("ACD_TEST_DATABASE_URL")
    if external:
        from sqlalchemy.engine import make_url

        parsed = make_url(external)
        yield PgServer(parsed.host or "127.0.0.1", parsed.port or 5432, parsed.username or "postgres")
        return
    with own_cluster() as server:
        if server is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; set ACD_TEST_DATABASE_URL")
        yield server


@pytest.fixture
def owned_pg_server(pg_server: PgServer) -> PgServer:
    """The session's server for a test that kills, stops or restarts it: skipped when the server is
    not the session's own (ACD_TEST_DATABASE_URL points at someone else's)."""
    if not pg_server.owned:
        pytest.skip("needs a PostgreSQL server owned by the test session (ACD_TEST_DATABASE_URL is set)")
    return pg_server


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the session's server (async URL)."""
    return pg_server.url(pg_server.create_database())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test once on a fresh SQLite file and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"
    return str(request.getfixturevalue("pg_url"))
