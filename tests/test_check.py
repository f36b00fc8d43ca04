"""`acd check` against the tests' fake Asterisk enforcing manager.conf read/write classes
(tests/support/fake_ami.py, modelled on Asterisk's manager.c): ListCommands lists only the actions
the user's write classes allow (with their ``(Priv: ...)``), other actions answer ``Permission
denied``, events reach a session only when its read classes include the event's class, the login's
FullyBooted is written straight to a session with read ``system`` (no Timestamp), broadcast events
carry ``Timestamp`` only with ``timestampevents``, and a wrong secret is answered ``Authentication
failed`` after ~1 s, then the connection is closed. The wording is checked against the real
captures below.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from acd.ami.codec import Framer
from acd.cli import main
from acd.preflight.checklist import check_port, run_checks
from acd.preflight.database import check_database
from acd.preflight.grants import enabled_features, granted_write_classes, parse_list_commands
from acd.preflight.results import CheckResult, exit_code
from acd.settings import Settings
from tests.support.fake_ami import (
    AUTH_ACCEPTED,
    AUTH_FAILED,
    PERMISSION_DENIED,
    FakeAsterisk,
    User,
)
from tests.support.waiting import DEADLINE

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
GOOD = User("good-secret", read="system,call,agent,user", write="reporting,agent,user")
READ_ONLY = User("ro-secret", read="all", write="none")
BROAD = User("all-secret", read="all", write="all")


def _settings(port: int, username: str, secret: str, tmp_path: Path, **extra: Any) -> Settings:
    extra.setdefault("routing", {"host": "127.0.0.1", "port": 0})
    return Settings(
        ami={"host": "127.0.0.1", "port": port, "username": username, "secret": secret},  # type: ignore[arg-type]
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"},  # type: ignore[arg-type]
        http={"host": "127.0.0.1", "port": 0},  # type: ignore[arg-type]
        **{"queue_log": {"path": ""}, **extra},
    )


def _by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def _verdicts(results: list[CheckResult]) -> dict[str, str]:
    return {r.name: r.verdict for r in results}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.upper().startswith("ACD_") or key == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(key)


# --- the fake answers as the real Asterisk did --------------------------------------------------


def _capture_messages(name: str) -> list[dict[str, str]]:
    return Framer().feed((FIXTURES / name).read_bytes())


def test_fake_speaks_like_the_captures() -> None:
    bad = _capture_messages("bad_login.ami.log")
    assert [m.get("Message") for m in bad] == [PERMISSION_DENIED, AUTH_FAILED]
    ro = _capture_messages("bad_login.ro.ami.log")
    assert AUTH_ACCEPTED in [m.get("Message") for m in ro]
    denied = [m for m in ro if m.get("Message") == PERMISSION_DENIED]
    assert len(denied) == 8  # QueueAdd, Originate, DBPut, Hangup, Command, QueuePause, DBGet, CoreSettings
    booted = next(m for m in ro if m.get("Event") == "FullyBooted")
    assert list(booted) == ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    pong = next(m for m in ro if m.get("Ping") == "Pong")
    assert "Timestamp" in pong  # even though these captures were made with timestampevents off
    assert not any("Timestamp" in m for m in ro if "Event" in m)


# --- AMI scenarios ---------------------------------------------------------------------------------


def test_good_user_passes_everything(tmp_path: Path) -> None:
    with FakeAsterisk({"acd": GOOD}, timestampevents=True, traffic=("agent", "call")) as pbx:
        results = asyncio.run(run_checks(_settings(pbx.port, "acd", GOOD.secret, tmp_path), 2.0))
    verdicts = _verdicts(results)
    assert set(verdicts.values()) == {"OK"}, results
    assert list(verdicts) == [
        "ami.connect",
        "ami.login",
        "ami.write.monitoring",
        "ami.write.affinity",
        "ami.write.extra",
        "ami.read.system",
        "ami.read.agent",
        "ami.read.call",
        "ami.read.user",
        "ami.read.extra",
        "ami.timestampevents",
        "routing.curl",
        "queue_log",
        "database",
        "http.port",
        "routing.port",
    ]
    by = _by_name(results)
    assert "Asterisk Call Manager/11.0.0" in by["ami.connect"].detail
    assert "own UserEvent came back" in by["ami.read.user"].detail
    assert by["ami.timestampevents"].detail.startswith("on")
    assert "CURL() reached http://127.0.0.1:" in by["routing.curl"].detail
    assert exit_code(results) == 0
    # the preflight sent nothing that changes Asterisk's state
    assert set(pbx.sent_actions()) <= {"Login", "ListCommands", "UserEvent", "Getvar", "Logoff"}


def test_timestamps_off_warn_and_fail_when_required(tmp_path: Path) -> None:
    with FakeAsterisk({"acd": GOOD}, traffic=("agent", "call")) as pbx:
        settings = _settings(pbx.port, "acd", GOOD.secret, tmp_path)
        warned = _by_name(asyncio.run(run_checks(settings, 2.0)))["ami.timestampevents"]
        required = settings.model_copy(
            update={"ami": settings.ami.model_copy(update={"require_timestamps": True})}
        )
        failed = _by_name(asyncio.run(run_checks(required, 2.0)))["ami.timestampevents"]
    assert warned.verdict == "WARN" and "timestampevents = yes" in warned.detail
    assert failed.verdict == "FAIL"


def test_missing_func_curl_fails_the_routing_check(tmp_path: Path) -> None:
    with FakeAsterisk({"acd": GOOD}, timestampevents=True, func_curl=False, traffic=("agent", "call")) as pbx:
        results = asyncio.run(run_checks(_settings(pbx.port, "acd", GOOD.secret, tmp_path), 2.0))
    curl = _by_name(results)["routing.curl"]
    assert curl.verdict == "FAIL" and "func_curl" in curl.detail
    assert exit_code(results) == 1


def test_routing_check_against_a_running_lookup(tmp_path: Path) -> None:
    """acd already running: the port is taken, and its own lookup answers Asterisk's CURL()."""
    from acd.routing.lookup import LookupServer, Reply

    running = LookupServer(
        "127.0.0.1", 0, lambda request: Reply("acd=ok&end=1", "ping"), timeout=0.5, workers=1
    )
    running.start()
    try:
        with FakeAsterisk({"acd": GOOD}, timestampevents=True, traffic=("agent", "call")) as pbx:
            settings = _settings(pbx.port, "acd", GOOD.secret, tmp_path, routing={"port": running.port})
            results = asyncio.run(run_checks(settings, 2.0))
    finally:
        running.close()
    by = _by_name(results)
    assert by["routing.curl"].verdict == "OK" and str(running.port) in by["routing.curl"].detail
    assert by["routing.port"].verdict == "FAIL"  # in use: run the check while acd is stopped


def test_good_user_stops_watching_once_everything_is_seen(tmp_path: Path) -> None:
    with FakeAsterisk({"acd": GOOD}, traffic=("agent", "call")) as pbx:
        # told to watch for an hour: only stopping once everything was seen ends it within the deadline
        watching = run_checks(_settings(pbx.port, "acd", GOOD.secret, tmp_path), 3600.0)
        asyncio.run(asyncio.wait_for(watching, DEADLINE))


def test_read_only_user_fails_on_write_classes(tmp_path: Path) -> None:
    with FakeAsterisk({"ro": READ_ONLY}) as pbx:
        results = asyncio.run(run_checks(_settings(pbx.port, "ro", READ_ONLY.secret, tmp_path), 0.3))
    by = _by_name(results)
    assert by["ami.login"].verdict == "OK"
    assert by["ami.write.monitoring"].verdict == "FAIL"
    assert "CoreShowChannels denied (needs write=reporting|system" in by["ami.write.monitoring"].detail
    assert by["ami.write.affinity"].verdict == "FAIL"
    for action in ("QueueAdd", "QueueRemove", "QueuePause", "UserEvent"):
        assert f"{action} denied" in by["ami.write.affinity"].detail
    assert by["ami.read.system"].verdict == "OK"
    assert by["ami.read.user"].verdict == "WARN"
    assert "cannot send UserEvent" in by["ami.read.user"].detail
    assert by["ami.read.extra"].verdict == "WARN" and "security" in by["ami.read.extra"].detail
    assert exit_code(results) == 1
    assert "UserEvent" not in pbx.sent_actions()  # not even tried: ListCommands said no


def test_read_only_user_without_affinity_only_needs_monitoring(tmp_path: Path) -> None:
    user = User("x-secret", read="system,call,agent", write="reporting")
    with FakeAsterisk({"mon": user}) as pbx:
        settings = _settings(pbx.port, "mon", user.secret, tmp_path, queue_defaults={"affinity": False})
        assert enabled_features(settings) == ["monitoring"]
        results = asyncio.run(run_checks(settings, 0.3))
    verdicts = _verdicts(results)
    assert "ami.write.affinity" not in verdicts
    assert verdicts["ami.write.monitoring"] == "OK"
    assert verdicts["ami.write.extra"] == "OK"
    assert exit_code(results) == 0


def test_broad_user_gets_least_privilege_warnings(tmp_path: Path) -> None:
    with FakeAsterisk({"acd": BROAD}, timestampevents=True, traffic=("agent", "call", "dialplan")) as pbx:
        results = asyncio.run(run_checks(_settings(pbx.port, "acd", BROAD.secret, tmp_path), 2.0))
    by = _by_name(results)
    extra_write = by["ami.write.extra"]
    assert extra_write.verdict == "WARN"
    for cls in ("command", "originate", "system", "call"):
        assert cls in extra_write.detail
    assert "least privilege: write=agent,reporting,user" in extra_write.detail
    assert by["ami.read.extra"].verdict == "WARN"
    assert "dialplan" in by["ami.read.extra"].detail and "security" in by["ami.read.extra"].detail
    assert by["ami.timestampevents"].verdict == "OK" and by["ami.timestampevents"].detail.startswith("on")
    assert not any(r.verdict == "FAIL" for r in results)
    assert exit_code(results) == 0


def test_missing_system_read_fails_and_timestamps_stay_unknown(tmp_path: Path) -> None:
    user = User("n-secret", read="agent,call", write="reporting,agent,user")
    with FakeAsterisk({"acd": user}, timestampevents=True) as pbx:
        results = asyncio.run(run_checks(_settings(pbx.port, "acd", user.secret, tmp_path), 0.3))
    by = _by_name(results)
    assert by["ami.read.system"].verdict == "FAIL"
    assert "read=system" in by["ami.read.system"].detail
    assert by["ami.read.user"].verdict == "WARN"  # sent, never came back
    assert by["ami.timestampevents"].verdict == "WARN"
    assert exit_code(results) == 1


def test_wrong_secret_fails_login(tmp_path: Path) -> None:
    with FakeAsterisk({"acd": GOOD}) as pbx:
        started = time.monotonic()
        results = asyncio.run(run_checks(_settings(pbx.port, "acd", "not-the-secret", tmp_path), 0.3))
        waited = time.monotonic() - started
    by = _by_name(results)
    assert by["ami.connect"].verdict == "OK"
    assert by["ami.login"].verdict == "FAIL"
    assert by["ami.login"].detail == "user 'acd': refused: Authentication failed"
    assert "not-the-secret" not in json.dumps([r.as_dict() for r in results])
    assert not any(r.name.startswith(("ami.write", "ami.read")) for r in results)
    assert waited >= 0.9  # Asterisk's answer comes after ~1 s; the check waits for it
    assert exit_code(results) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_port(tmp_path: Path) -> None:
    results = asyncio.run(run_checks(_settings(_closed_port(), "acd", "x-secret", tmp_path), 0.3))
    by = _by_name(results)
    assert by["ami.connect"].verdict == "FAIL"
    assert "connection refused" in by["ami.connect"].detail
    assert not any(r.name == "ami.login" for r in results)
    # the rest is still checked so one run shows every problem
    assert {"database", "http.port", "routing.port"} <= set(by)
    assert exit_code(results) == 1


def test_not_an_ami_port(tmp_path: Path) -> None:
    with FakeAsterisk({}, banner="SSH-2.0-OpenSSH_9.2") as pbx:
        results = asyncio.run(run_checks(_settings(pbx.port, "acd", "x-secret", tmp_path), 0.3))
    by = _by_name(results)
    assert by["ami.connect"].verdict == "FAIL"
    assert "not AMI" in by["ami.connect"].detail


# --- the pure parts --------------------------------------------------------------------------------


def test_list_commands_parsing() -> None:
    answer = {
        "Response": "Success",
        "ActionID": "1",
        "Ping": "Keepalive command. (Priv: <none>)",
        "CoreShowChannels": "List currently active channels. (Priv: system,reporting,all)",
        "Command": "Execute Asterisk CLI Command. (Priv: command,all)",
        "QueueAdd": "Add interface to queue. (Priv: agent,all)",
    }
    allowed = parse_list_commands(answer)
    assert allowed == {
        "ping": frozenset(),
        "coreshowchannels": frozenset({"system", "reporting"}),
        "command": frozenset({"command"}),
        "queueadd": frozenset({"agent"}),
    }
    # a multi-class action proves neither class on its own
    assert granted_write_classes(allowed) == {"command", "agent"}


# --- database and ports ------------------------------------------------------------------------------


def test_database_missing_sqlite_file_is_fine(tmp_path: Path) -> None:
    settings = _settings(1, "acd", "x-secret", tmp_path)
    result = asyncio.run(check_database(settings))
    assert result.verdict == "OK" and "first start" in result.detail
    assert not (tmp_path / "acd.db").exists(), "a preflight must not create the database"


def test_database_in_a_missing_directory_fails(tmp_path: Path) -> None:
    settings = _settings(1, "acd", "x-secret", tmp_path)
    settings.database.url = f"sqlite+aiosqlite:///{tmp_path / 'nope' / 'acd.db'}"
    result = asyncio.run(check_database(settings))
    assert result.verdict == "FAIL" and "does not exist" in result.detail


def test_database_current_and_newer_schema(tmp_path: Path) -> None:
    from acd.store.database import make_engine
    from acd.store.migrate import upgrade

    settings = _settings(1, "acd", "x-secret", tmp_path)

    async def migrate() -> None:
        engine = make_engine(settings.database.url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate())
    before = sorted(p.name for p in tmp_path.iterdir())
    stamp = (tmp_path / "acd.db").stat().st_mtime_ns
    result = asyncio.run(check_database(settings))
    assert result.verdict == "OK" and "current revision" in result.detail
    # read-only: no new -wal/-shm files (they would be root's when run as root), nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "acd.db").stat().st_mtime_ns == stamp

    # a writer still has the database open: the change sits in the WAL, which the check must read
    writer = sqlite3.connect(tmp_path / "acd.db")
    try:
        with writer:
            writer.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
        assert (tmp_path / "acd.db-wal").exists()
        result = asyncio.run(check_database(settings))
    finally:
        writer.close()
    assert result.verdict == "FAIL" and "newer than this acd" in result.detail


def test_database_unreachable_hides_the_password(tmp_path: Path) -> None:
    settings = _settings(1, "acd", "x-secret", tmp_path)
    settings.database.url = f"postgresql+asyncpg://acd:db-pass-123@127.0.0.1:{_closed_port()}/acd"
    result = asyncio.run(check_database(settings))
    assert result.verdict == "FAIL" and "cannot connect" in result.detail
    assert "db-pass-123" not in result.detail


def test_ports_in_use_and_free() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = check_port("http.port", "127.0.0.1", port)
    assert taken.verdict == "FAIL" and "in use" in taken.detail
    assert check_port("http.port", "127.0.0.1", _closed_port()).verdict == "OK"
    assert check_port("routing.port", "127.0.0.1", 0).verdict == "OK"
    assert check_port("http.port", "192.0.2.1", 8080).verdict == "FAIL"  # not an address of this host


# --- the command ---------------------------------------------------------------------------------------


def _env(monkeypatch: pytest.MonkeyPatch, port: int, user: str, secret: str, tmp_path: Path) -> None:
    monkeypatch.setenv("ACD_AMI__PORT", str(port))
    monkeypatch.setenv("ACD_AMI__USERNAME", user)
    monkeypatch.setenv("ACD_AMI__SECRET", secret)
    monkeypatch.setenv("ACD_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}")
    monkeypatch.setenv("ACD_HTTP__PORT", "0")
    monkeypatch.setenv("ACD_ROUTING__PORT", "0")
    monkeypatch.setenv("ACD_QUEUE_LOG__PATH", "")


def test_cli_json_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeAsterisk({"ro": READ_ONLY}) as pbx:
        _env(monkeypatch, pbx.port, "ro", READ_ONLY.secret, tmp_path)
        code = main(["check", "--json", "--observe", "0.3"])
    out = capsys.readouterr().out
    report = json.loads(out)
    assert code == 1
    assert report["ok"] is False
    names = [c["name"] for c in report["checks"]]
    assert names[0] == "config"
    assert {"name": "ami.login", "verdict": "OK", "detail": "user 'ro' logged in"} in report["checks"]
    assert READ_ONLY.secret not in out


def test_cli_human_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeAsterisk({"acd": GOOD}, timestampevents=True, traffic=("agent", "call")) as pbx:
        _env(monkeypatch, pbx.port, "acd", GOOD.secret, tmp_path)
        code = main(["check", "--observe", "2"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("OK    config")
    assert all(line.split()[0] == "OK" for line in lines if line and not line.startswith("acd check"))
    assert "acd check passed: 0 failed" in out


def test_cli_invalid_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACD_AMI__PORT", "70000")
    code = main(["check"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    [line] = captured.err.splitlines()  # the one line every command gives
    assert line.startswith("acd: configuration error: ACD_AMI__PORT: input should be less than or equal")
    assert line.endswith("(got '70000')")
    code = main(["check", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and json.loads(captured.out)["checks"][0]["verdict"] == "FAIL"


def test_cli_without_an_ami_secret_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ACD_AMI__SECRET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert main(["check"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("acd: configuration error: ACD_AMI__SECRET: not set")


# --- against the simulator (acd sim), which models manager.conf classes on its own ---------------

SIM_MANAGER_CONF = """\
[general]
enabled = yes
timestampevents = no

[good]
secret = good-secret
read = system,call,agent,user
write = reporting,agent,user

[ro]
secret = ro-secret
read = all
write = none
"""


@pytest.mark.parametrize(
    ("user", "secret", "expected"),
    [
        ("good", "good-secret", {"ami.login": "OK", "ami.write.monitoring": "OK", "ami.read.user": "OK"}),
        (
            "ro",
            "ro-secret",
            {"ami.login": "OK", "ami.write.monitoring": "FAIL", "ami.write.affinity": "FAIL"},
        ),
        ("good", "wrong-secret", {"ami.login": "FAIL"}),
    ],
)
async def test_against_the_simulator(
    tmp_path: Path, user: str, secret: str, expected: dict[str, str]
) -> None:
    from acd.sim.config import SimConfig
    from acd.sim.simulator import Simulator

    conf = tmp_path / "manager.conf"
    conf.write_text(SIM_MANAGER_CONF)
    sim = Simulator(
        SimConfig(host="127.0.0.1", port=0, manager_conf=conf, seed=7, speed=30.0, rate_per_min=30)
    )
    _, port = await sim.start()
    try:
        results = await run_checks(_settings(port, user, secret, tmp_path), 1.0)
    finally:
        await sim.stop()
    verdicts = _verdicts(results)
    for name, verdict in expected.items():
        assert verdicts.get(name) == verdict, results
    if user == "good" and secret == "good-secret":
        assert exit_code(results) == 0, results
        assert verdicts["ami.read.system"] == "OK"
        # the simulator's CURL() fetched this check's own answer on the lookup port
        assert verdicts["routing.curl"] == "OK", results
    else:
        assert exit_code(results) == 1


async def test_queue_log_is_readable_and_written_by_asterisk(tmp_path: Path) -> None:
    """The simulator writes queue_log as Asterisk does: acd check has it append a line and sees it."""
    from acd.sim.config import SimConfig
    from acd.sim.simulator import Simulator

    conf = tmp_path / "manager.conf"
    conf.write_text(SIM_MANAGER_CONF)
    qlog = tmp_path / "queue_log"
    sim = Simulator(
        SimConfig(host="127.0.0.1", port=0, manager_conf=conf, seed=7, traffic=False, queue_log=qlog)
    )
    _, port = await sim.start()
    try:
        good = _by_name(
            await run_checks(
                _settings(port, "good", "good-secret", tmp_path, queue_log={"path": str(qlog)}), 0.3
            )
        )["queue_log"]
        missing = _by_name(
            await run_checks(
                _settings(port, "good", "good-secret", tmp_path, queue_log={"path": str(tmp_path / "nope")}),
                0.3,
            )
        )["queue_log"]
    finally:
        await sim.stop()
    assert good.verdict == "OK" and "Asterisk writes it" in good.detail, good
    assert "|ACDCHECK|" in qlog.read_text()
    assert missing.verdict == "FAIL" and "no such file" in missing.detail
