"""The commands as a newcomer meets them: help everywhere, a taken port, a report without a
database, a replay into a database, a file that is not a capture."""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from acd.cli import build_parser, main
from acd.reads.summary import Report
from acd.reporting.render import to_table
from acd.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
CAPTURE = FIXTURES / "answered_call.ami.log"
ACD = [sys.executable, "-m", "acd.cli"]


def _env(**extra: str) -> dict[str, str]:
    """The caller's environment without its ACD_* variables; no queue_log (never the machine's)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ACD_")}
    env["ACD_QUEUE_LOG__PATH"] = ""
    env.update(extra)
    return env


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _parsers(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_command_and_option_has_a_help_line() -> None:
    missing = []
    for path, parser in _parsers(build_parser(), "acd"):
        if not parser.description:
            missing.append(f"{path}: no description")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {c.dest}: no help" for c in action._choices_actions if not c.help]
            elif not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}: no help")
        assert "``" not in (parser.description or ""), f"{path}: reStructuredText in --help"
    assert missing == []


def test_run_with_its_port_taken_is_one_line_and_exit_2(taken_port: int, tmp_path: Path) -> None:
    env = _env(ACD_AMI__SECRET="x", ACD_AMI__PORT="9", ACD_HTTP__PORT=str(taken_port), ACD_ROUTING__PORT="0")
    done = subprocess.run([*ACD, "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"acd: cannot listen: HTTP API and /metrics on 127.0.0.1:{taken_port}: in use (is acd already "
        "running?); ACD_HTTP__PORT chooses another port"
    ]
    assert list(tmp_path.iterdir()) == []  # it stopped before opening anything


def test_demo_takes_a_free_port_when_its_own_is_taken(taken_port: int, tmp_path: Path) -> None:
    env = _env(ACD_HTTP__PORT=str(taken_port), ACD_LOG_LEVEL="warning")
    done = subprocess.run(
        [*ACD, "demo", "--seconds", "1", "--speed", "20", "--history", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"acd demo: port {taken_port} is taken; using a free port instead" in done.stderr
    metrics = next(line for line in done.stdout.splitlines() if "/metrics" in line)
    assert f":{taken_port}/" not in metrics
    assert "Traceback" not in done.stderr


def test_report_without_a_database_creates_none_and_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACD_DATABASE__URL", raising=False)
    assert main(["report"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"acd report: no database at {tmp_path / 'acd.db'} (sqlite+aiosqlite:///acd.db, relative to "
        "the current directory): point --database URL or ACD_DATABASE__URL at acd's database"
    ]
    assert main(["report", "--database", f"sqlite+aiosqlite:///{tmp_path / 'elsewhere.db'}"]) == 1
    assert "no database at" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_report_of_an_empty_database_says_nothing_was_recorded_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()
    assert main(["report", "--database", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"]) == 1
    assert "has no acd tables (nothing was ever recorded there)" in capsys.readouterr().err


def test_replay_into_a_database_dates_records_from_the_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from acd.capture.replay import replay_file

    truth = {r.id: r.joined_at for r in replay_file(CAPTURE).records}
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    assert main(["replay", str(CAPTURE), "--database", url]) == 0
    with sqlite3.connect(tmp_path / "r.db") as db:
        stored = dict(db.execute("select call_id, joined_at from calls").fetchall())
    assert stored and stored == pytest.approx(truth)
    assert all(at < 1.8e9 for at in stored.values())  # the capture's own dates (2026), not "now"
    capsys.readouterr()
    # --start still moves them.
    url2 = f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    assert main(["replay", str(CAPTURE), "--database", url2, "--start", "2020-01-01T00:00:00+00:00"]) == 0
    with sqlite3.connect(tmp_path / "s.db") as db:
        (first,) = db.execute("select min(joined_at) from calls").fetchone()
    assert 1577836800 <= first < 1577836800 + 3600


@pytest.mark.parametrize("name", ["README.md", "empty"])
def test_replay_of_a_file_that_is_not_a_capture_is_exit_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(__file__).parent.parent / name if name != "empty" else tmp_path / "empty.log"
    if name == "empty":
        path.write_bytes(b"")
    assert main(["replay", str(path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"acd replay: {path}: ")
    assert "not a raw AMI capture" in line or "empty" in line
    assert main(["replay", str(CAPTURE)]) == 0  # a real one still replays


def test_report_table_fits_120_columns_even_with_long_names() -> None:
    stats = {
        "offered": 12345, "answered": 12000, "abandoned": 300, "abandoned_short": 45, "exited": 0,
        "customer_calls": 12100, "service_level": 0.812, "asa_seconds": 14.2, "aht_seconds": 241.0,
        "cut_offs": 37,
        "callbacks": 29, "callbacks_by_result": {"original_agent": 20, "other_agent": 9},
        "callbacks_by_routing": {"original_agent": 18, "not_routed": 11}, "without_notes": 120,
        "resolved": 9000, "credit_points": 4250.0, "credit_adjusted": 1, "credit_disputed": 0,
        "agent_released_short": 4, "callbacks_taken": 14, "callbacks_of_own_cut_offs": 9, "name": None,
        "repeat_contacts": {w: {"repeats": 812, "decided": 11000, "pending": 1000, "rate": 0.07}
                            for w in ("24h", "7d", "30d")},
        "fcr": {"24h": 0.926, "7d": 0.9, "30d": None},
    }  # fmt: skip
    report = Report(
        since=1.8e9,
        until=1.8e9 + 86400,
        now=1.8e9 + 86400,
        queues={"customer-support-escalations-north-america": stats, "sales": stats},
        agents={"Maximiliana Alexandrescu-Montgomery (PJSIP/1001)": stats, "Bob": stats},
    )
    table = to_table(report)
    assert max(len(line) for line in table.splitlines()) <= 120, table
    assert "legend: " in table and "customer-su~" in table and "812/11000 +1000" in table
    assert "(too wide for 120 columns: resolved, no notes; --wide shows them)" in table
    wide = to_table(report, wide=True)
    assert "customer-support-escalations-north-america" in wide and "original_agent 20" in wide


def test_a_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.Popen([*ACD, "replay", str(CAPTURE)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(60) in (0, 1)
    assert b"Traceback" not in proc.stderr.read()


async def test_clean_stop_logs_no_warning(tmp_path: Path) -> None:
    from acd.daemon import Daemon
    from acd.settings import Settings
    from tests.support.fake_ami import FakeAmi
    from tests.support.logs import captured_logs
    from tests.support.waiting import until

    fake = await FakeAmi().start()
    settings = Settings(
        ami={"port": fake.port, "secret": fake.secret},  # type: ignore[arg-type]
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}", "spool_dir": str(tmp_path / "s")},  # type: ignore[arg-type]
        http={"port": 0},  # type: ignore[arg-type]
        routing={"port": 0},  # type: ignore[arg-type]
        affinity={"enabled": False},  # type: ignore[arg-type]  # else: "no personal queue" (a warning)
        queue_log={"path": ""},  # type: ignore[arg-type]  # the fake has none: a missing one warns
    )
    with captured_logs("info") as logs:
        daemon = Daemon(settings)
        try:
            await daemon.start()
            await until(lambda: daemon.ami.connected and daemon.stats.resyncs >= 1)
        finally:
            await daemon.stop()
            await fake.close()
    events = [(r["event"], r.get("reason")) for r in logs.records()]
    assert ("ami_disconnected", "closed") in events, events
    assert logs.at("warning", "error") == []


def _daemon_settings(tmp_path: Path, **ami: object) -> Settings:
    return Settings(
        ami=ami,  # type: ignore[arg-type]
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}", "spool_dir": str(tmp_path / "s")},  # type: ignore[arg-type]
        http={"port": 0},  # type: ignore[arg-type]
        routing={"port": 0},  # type: ignore[arg-type]
        affinity={"enabled": False},  # type: ignore[arg-type]
        queue_log={"path": ""},  # type: ignore[arg-type]
    )


async def test_a_refused_login_is_logged_once_by_the_daemon(tmp_path: Path) -> None:
    """The AMI client reports; the daemon logs each refusal once (one line, the user and
    Asterisk's words, never the secret), and not again as a disconnect."""
    from acd.daemon import Daemon
    from tests.support.fake_ami import FakeAmi
    from tests.support.logs import captured_logs
    from tests.support.waiting import until

    fake = await FakeAmi().start()
    settings = _daemon_settings(tmp_path, port=fake.port, secret="not-the-secret-123", auth_retry=3600)
    with captured_logs("debug") as logs:
        daemon = Daemon(settings)
        try:
            await daemon.start()
            await until(lambda: any(r["event"] == "ami_login_refused" for r in logs.records()))
            await until(lambda: any(r["event"] == "ami_disconnected" for r in logs.records()))
        finally:
            await daemon.stop()
            await fake.close()
    problems = logs.at("warning", "error")
    assert [r["event"] for r in problems] == ["ami_login_refused"], problems
    refused = problems[0]
    assert refused["user"] == "acd" and refused["message"] == "Authentication failed"
    assert refused["ami"] == f"127.0.0.1:{fake.port}" and refused["retry_in"] > 60
    assert "not-the-secret-123" not in logs.stream.getvalue()


async def test_an_unreachable_asterisk_is_logged_once_per_attempt(tmp_path: Path) -> None:
    from acd.daemon import Daemon
    from tests.support.logs import captured_logs
    from tests.support.ports import free_port
    from tests.support.waiting import until

    port = free_port()  # nothing listens there
    settings = _daemon_settings(
        tmp_path, port=port, secret="s3cret-value", reconnect_min=3600, reconnect_max=3600
    )
    with captured_logs("debug") as logs:
        daemon = Daemon(settings)
        try:
            await daemon.start()
            await until(lambda: daemon.ami.stats.connect_attempts >= 1 and logs.at("warning", "error") != [])
        finally:
            await daemon.stop()
    problems = logs.at("warning", "error")
    assert [r["event"] for r in problems] == ["ami_unreachable"], problems
    assert problems[0]["attempt"] == 1 and problems[0]["ami"] == f"127.0.0.1:{port}"


def test_run_with_the_lookup_port_taken_is_one_line_and_exit_2(taken_port: int, tmp_path: Path) -> None:
    env = _env(ACD_AMI__SECRET="x", ACD_AMI__PORT="9", ACD_HTTP__PORT="0", ACD_ROUTING__PORT=str(taken_port))
    done = subprocess.run([*ACD, "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"acd: cannot listen: routing lookup on 127.0.0.1:{taken_port}: in use (is acd already running?); "
        "ACD_ROUTING__PORT chooses another port (and regenerate the dialplan with acd asterisk-config)"
    ]
