"""Logging: JSON lines for machines, the libraries' stdlib logs in the same shape, no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from pydantic import SecretStr

from acd.logs import REDACTED, configure_logging, register_secret
from acd.settings import Settings


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


def _lines(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def test_json_lines_parse_and_carry_utc_iso_timestamp() -> None:
    buf = io.StringIO()
    configure_logging("json", "info", buf, cache=False)
    structlog.get_logger("acd.test").info("ami connected", host="127.0.0.1", port=5038)
    (line,) = _lines(buf)
    assert line["event"] == "ami connected"
    assert line["level"] == "info"
    assert line["logger"] == "acd.test"
    assert line["port"] == 5038
    stamp = datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00"))
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)
    assert list(line)[:4] == ["timestamp", "level", "logger", "event"]


def test_auto_is_json_off_a_terminal_and_console_on_one() -> None:
    pipe = io.StringIO()
    configure_logging("auto", "info", pipe, cache=False)
    structlog.get_logger("acd.test").info("to a pipe")
    assert json.loads(pipe.getvalue())["event"] == "to a pipe"

    tty = _Tty()
    configure_logging("auto", "info", tty, cache=False)
    structlog.get_logger("acd.test").info("to a terminal", queue="support")
    text = tty.getvalue()
    assert "to a terminal" in text and "queue" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.parametrize("name", ["panoramisk.manager", "sqlalchemy.engine", "aiohttp.server", "asyncio"])
def test_stdlib_records_come_out_as_the_same_json(name: str) -> None:
    buf = io.StringIO()
    configure_logging("json", "info", buf, cache=False)
    logging.getLogger(name).error("connection lost to %s:%d", "pbx", 5038)
    (line,) = _lines(buf)
    assert line["event"] == "connection lost to pbx:5038"
    assert line["level"] == "error"
    assert line["logger"] == name
    assert "timestamp" in line


def test_stdlib_exception_is_rendered_into_the_json_line() -> None:
    buf = io.StringIO()
    configure_logging("json", "info", buf, cache=False)
    try:
        raise RuntimeError("db down")
    except RuntimeError:
        logging.getLogger("sqlalchemy.pool").exception("checkout failed")
    (line,) = _lines(buf)
    assert "RuntimeError: db down" in str(line["exception"])


def test_secret_fields_are_redacted() -> None:
    buf = io.StringIO()
    configure_logging("json", "debug", buf, cache=False)
    log = structlog.get_logger("acd.test")
    log.info(
        "login",
        secret="hunter2-field",
        ami_password="pw-field",
        api_token="tok-field",
        Authorization="Bearer abc.def",
        wrapped=SecretStr("secretstr-value"),
        action={"Action": "Login", "Username": "acd", "Secret": "nested-secret"},
        url="postgresql+asyncpg://acd:dbpass123@db/acd",
        settings=Settings(ami={"secret": "model-secret"}),  # type: ignore[arg-type]
    )
    text = buf.getvalue()
    for leaked in (
        "hunter2-field",
        "pw-field",
        "tok-field",
        "abc.def",
        "secretstr-value",
        "nested-secret",
        "dbpass123",
        "model-secret",
    ):
        assert leaked not in text, leaked
    (line,) = _lines(buf)
    assert line["secret"] == REDACTED
    assert line["wrapped"] == REDACTED
    assert line["action"] == {"Action": "Login", "Username": "acd", "Secret": REDACTED}
    assert line["url"] == f"postgresql+asyncpg://acd:{REDACTED}@db/acd"


def test_secrets_in_stdlib_messages_and_tracebacks_are_redacted() -> None:
    buf = io.StringIO()
    configure_logging("console", "info", buf, cache=False)
    register_secret(SecretStr("registered-value-42"))
    logging.getLogger("panoramisk.manager").warning("sending Action: Login\r\nSecret: wire-secret\r\n")
    try:
        raise ValueError("rejected: registered-value-42")
    except ValueError:
        structlog.get_logger("acd.test").exception("login failed")
    text = buf.getvalue()
    assert "wire-secret" not in text
    assert "registered-value-42" not in text
    assert "rejected: " + REDACTED in text


def test_disabled_level_does_no_work() -> None:
    """Below the level a call is a no-op: nothing is rendered, not even the arguments."""

    class Costly:
        rendered = 0

        def __repr__(self) -> str:
            Costly.rendered += 1
            return "costly"

        __str__ = __repr__

    buf = io.StringIO()
    configure_logging("json", "warning", buf, cache=False)
    log = structlog.get_logger("acd.test")
    for _ in range(100):
        log.debug("event", headers=Costly())
        log.info("event", headers=Costly())
    logging.getLogger("panoramisk.manager").info("%s", Costly())
    assert Costly.rendered == 0
    assert buf.getvalue() == ""
    log.warning("kept", headers=Costly())
    assert Costly.rendered == 1
    assert _lines(buf)[0]["headers"] == "costly"


def test_chatty_libraries_stay_quiet_at_info() -> None:
    buf = io.StringIO()
    configure_logging("json", "info", buf, cache=False)
    logging.getLogger("aiohttp.access").info("GET /metrics 200")
    logging.getLogger("asyncio").info("poll took 0.2 seconds")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    assert buf.getvalue() == ""
    configure_logging("json", "debug", buf, cache=False)
    logging.getLogger("aiohttp.access").info("GET /metrics 200")
    assert _lines(buf)[0]["event"] == "GET /metrics 200"


def test_reconfigure_replaces_its_own_handler_only() -> None:
    other = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(other)
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "info", first, cache=False)
    configure_logging("json", "info", second, cache=False)
    logging.getLogger("acd.x").warning("once")
    assert first.getvalue() == ""
    assert len(_lines(second)) == 1
    assert other in logging.getLogger().handlers
    logging.getLogger().removeHandler(other)


def test_bad_level_and_format_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure_logging("json", "loud", io.StringIO())
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("xml", "info", io.StringIO())  # type: ignore[arg-type]
