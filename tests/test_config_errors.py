"""A configuration mistake is one line on stderr and exit 2, in every command; lists also take the
comma form; a misspelt variable is named with the closest real one; no secret is echoed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

import acd.settings
from acd.cli import main
from acd.envvars import unknown_variables, variable_names
from acd.settings import ConfigError, Settings, load_settings, with_database

CAPTURE = Path(__file__).parent / "fixtures" / "ami" / "answered_call.ami.log"

# Every command that reads the configuration, with the arguments it needs to get that far.
COMMANDS = {
    "run": ["run"],
    "demo": ["demo", "--seconds", "1"],
    "replay": ["replay", str(CAPTURE)],
    "config": ["config"],
    "check": ["check"],
    "db": ["db", "current"],
    "report": ["report"],
    "purge": ["purge", "--before", "2020-01-01"],
    "asterisk-config": ["asterisk-config", "--agent", "PJSIP/1001"],
}

# (variable, value, what the line must say after "VARIABLE: ")
BAD = [
    (
        "ACD_QUEUES",
        "nope",
        "not valid JSON (Expecting value at position 0); expected a JSON object (got 'nope')",
    ),
    ("ACD_API_TOKENS", "not json", "not valid JSON (Expecting value at position 0); expected a JSON list"),
    ("ACD_CUTOFF_NORMAL_CAUSES", "16,x", "item 2: input should be a valid integer"),
    ("ACD_AFFINITY__AGENTS", '["PJSIP/1001"', "not valid JSON (Expecting ',' delimiter at position 13)"),
    ("ACD_DATABASE__URL", "mysql://x/y", "unsupported database 'mysql': use sqlite+aiosqlite:///PATH"),
    (
        "ACD_HTTP__PORT",
        "http",
        "input should be a valid integer, unable to parse string as an integer (got 'http')",
    ),
    ("ACD_LOG_LEVEL", "loud", "input should be 'debug', 'info', 'warning' or 'error' (got 'loud')"),
    ("ACD_AMI__RECONNECT_MAX", "0.1", "must be >= ACD_AMI__RECONNECT_MIN (got '0.1')"),
    ("ACD_QUEUES", '{"sales": {"wrapup": 5}}', "queue 'sales': unknown setting(s) ['wrapup']"),
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what each test sets, run from an empty directory (no acd.db is created by mistake)."""
    import os

    for key in list(os.environ):
        if key.upper().startswith("ACD_") or key == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(acd.settings, "_warned", set())


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.parametrize(("name", "value", "said"), BAD, ids=[f"{n}={v}" for n, v, _ in BAD])
def test_each_mistake_is_one_line_naming_the_variable(
    name: str, value: str, said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["config"]) == 2
    line = one_line(capsys)
    assert line.startswith(f"acd: configuration error: {name}: {said}"), line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_gives_the_same_line_and_exit_2(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ACD_DISPOSITIONS", '["sale", "other"')
    assert main(COMMANDS[command]) == 2
    line = one_line(capsys)
    assert line.startswith("acd: configuration error: ACD_DISPOSITIONS: not valid JSON"), line
    assert list(tmp_path.iterdir()) == []  # nothing created on the way out


def test_a_process_prints_no_traceback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "ACD_DATABASE__URL": "mysql://u:pw@db/acd", "ACD_AMI__SECRET": "x"}
    for args in (["check"], ["report"], ["run"]):
        done = subprocess.run(
            [sys.executable, "-m", "acd.cli", *args], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines() == [
            "acd: configuration error: ACD_DATABASE__URL: unsupported database 'mysql': use "
            "sqlite+aiosqlite:///PATH (SQLite) or postgresql+asyncpg://USER:PASSWORD@HOST/NAME "
            "(PostgreSQL) (got 'mysql://u:***@db/acd')"
        ], args


def test_lists_take_the_comma_form_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACD_CUTOFF_NORMAL_CAUSES", "16, 17")
    monkeypatch.setenv("ACD_DISPOSITIONS", "sale,other")
    monkeypatch.setenv("ACD_AFFINITY__AGENTS", "PJSIP/1001,Local/1002@agents")
    monkeypatch.setenv("ACD_AFFINITY__ALLOWED_PAUSE_REASONS", '["acw"]')
    settings = load_settings()
    assert settings.cutoff_normal_causes == frozenset({16, 17})
    assert settings.dispositions == ["sale", "other"]
    assert settings.affinity.agents == ["PJSIP/1001", "Local/1002@agents"]
    assert settings.affinity.allowed_pause_reasons == ["acw"]
    monkeypatch.setenv("ACD_CUTOFF_NORMAL_CAUSES", "16")
    monkeypatch.setenv("ACD_AFFINITY__AGENTS", "")
    settings = load_settings()
    assert settings.cutoff_normal_causes == frozenset({16}) and settings.affinity.agents == []


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACD_API_TOKENS", '[{"token": "tok-XYZ-123", "role": "boss"}]')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith("ACD_API_TOKENS: item 1: ")
    assert "tok-XYZ-123" not in str(info.value)
    monkeypatch.delenv("ACD_API_TOKENS")
    monkeypatch.setenv("ACD_AMI", '{"secret": "hunter2-XYZ", "port": "x"}')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "hunter2-XYZ" not in str(info.value)


def test_database_option_is_checked_like_the_variable() -> None:
    settings = Settings()
    with pytest.raises(ConfigError, match=r"^--database: unsupported database 'mysql'"):
        with_database(settings, "mysql://x/y")
    assert with_database(settings, "postgresql://u@h/acd").database.url == "postgresql://u@h/acd"


def test_unknown_variable_is_named_once_with_the_closest_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACD_HTTP_PORT", "18080")
    monkeypatch.setenv("ACD_AMI_SECRET", "s")
    monkeypatch.setenv("ACD_DISPOSITON", "sale")
    monkeypatch.setenv("ACD_NO_SUCH_THING", "1")
    monkeypatch.setenv("ACD_QUEUES__SALES__WRAPUP_SECONDS", "15")  # a map's keys are free
    load_settings()
    load_settings()  # acd demo reads the settings twice: still one warning each
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "acd: warning: ACD_AMI_SECRET is not an acd setting and is ignored (did you mean ACD_AMI__SECRET?)",
        "acd: warning: ACD_DISPOSITON is not an acd setting and is ignored (did you mean ACD_DISPOSITIONS?)",
        "acd: warning: ACD_HTTP_PORT is not an acd setting and is ignored (did you mean ACD_HTTP__PORT?)",
        "acd: warning: ACD_NO_SUCH_THING is not an acd setting and is ignored (see `acd config --example`)",
    ]


def test_a_setting_added_later_is_known_without_touching_the_check() -> None:
    class Later(Settings):
        journal_dir: str = Field("journal", description="a setting added after this test was written")

    exact, _ = variable_names(Later)
    assert "ACD_JOURNAL_DIR" in exact and "ACD_AMI__PING_TIMEOUT" in exact
    assert unknown_variables(Later, {"ACD_JOURNAL_DIR": "x", "ACD_JOURNAL_DIRS": "y", "HOME": "/"}) == [
        ("ACD_JOURNAL_DIRS", "ACD_JOURNAL_DIR")
    ]


def test_run_refuses_to_start_without_an_ami_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert one_line(capsys) == (
        "acd: configuration error: ACD_AMI__SECRET: not set: give the secret of the manager.conf user "
        "'acd' (or the systemd credential ami_secret)"
    )
