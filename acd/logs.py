"""Logging setup: one structlog pipeline for acd's own logs and the libraries' stdlib logs.

Why it looks like this:
- Under systemd the output goes to journald and from there to whatever ships logs, so when the
  stream is not a terminal each record is one JSON object per line; a person at a terminal gets
  readable console lines instead (``fmt="auto"``).
- asyncio, SQLAlchemy, Alembic and aiohttp log through the standard library. Their records are
  routed through the same processors (structlog's ``ProcessorFormatter``), so every line has the
  same shape: ISO-8601 UTC ``timestamp``, ``level``, ``logger``, ``event``.
- Secrets never reach the output: :func:`redact_secrets` runs on every record, whatever its origin,
  after exceptions have been turned into text, so a traceback that quotes a secret is scrubbed too.
- The daemon handles thousands of AMI events a second and must not pay for log calls it does not
  emit: acd's loggers are structlog "filtering" loggers whose methods below the configured level
  are no-ops (no processor runs, no argument is formatted).

Call :func:`configure_logging` once, at start, before any logger is used: loggers are cached on
first use for speed, so a later call changes the output stream but not a cached logger's level.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TextIO

import structlog
from pydantic import SecretBytes, SecretStr
from structlog.types import EventDict, Processor, WrappedLogger

__all__ = [
    "LEVELS",
    "REDACTED",
    "configure_logging",
    "redact_secrets",
    "redact_text",
    "register_secret",
]

REDACTED = "**redacted**"

LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# Libraries that log once per request or message at INFO/DEBUG (and Alembic, a few lines of
# migration chatter at every start): kept at WARNING unless the operator asks for debug, so the
# daemon's log is not one line per scrape or per AMI packet.
_CHATTY = ("aiohttp.access", "asyncio", "alembic")

# Key names whose values are secrets. Matched case-insensitively as substrings, so AMI's
# ``Secret``, a ``db_password``, ``api_token`` and HTTP ``Authorization`` are all caught.
_SECRET_KEY = re.compile(r"secret|passw|token|authorization|credential|api_?key", re.IGNORECASE)

# Secrets inside free text: ``Secret: x`` / ``password=x`` in a message, ``Bearer x`` headers, and
# the password of a URL (``postgresql://user:pw@host/db``). A bare ``key`` is left alone: "caller
# key" is a domain word, and AMI's MD5 ``Key`` is a one-time hash of a challenge.
_SECRET_TEXT = re.compile(
    r"(?P<k>\b(?:secret|password|passwd|token|authorization|api_?key)\b\"?\s*[:=]\s*\"?)"
    r"(?:bearer\s+)?(?P<v>[^\s\"',;&}]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<k>\bbearer\s+)(?P<v>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<k>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<v>[^@\s]+)(?=@)", re.IGNORECASE)

_known_secrets: set[str] = set()


def register_secret(value: str | SecretStr | None) -> None:
    """Scrub this exact value from every log line from now on, wherever it appears.

    Key names and patterns catch the usual places; registering the configured AMI secret and API
    tokens at start also catches a secret quoted somewhere unexpected (an echoed request, an
    exception message). Values shorter than 4 characters are ignored: scrubbing them would mangle
    ordinary text and they are no secret anyway.
    """
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value and len(value) >= 4:
        _known_secrets.add(value)


def redact_text(text: str) -> str:
    """Free text with registered secrets, ``secret=...``-style values and URL passwords replaced."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if ":" in text or "=" in text or "earer" in text:
        text = _SECRET_TEXT.sub(lambda m: m.group("k") + REDACTED, text)
        text = _BEARER.sub(lambda m: m.group("k") + REDACTED, text)
        text = _URL_PASSWORD.sub(lambda m: m.group("k") + REDACTED, text)
    return text


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if depth > 4:  # a pathological nesting is not walked further; its repr is still scrubbed
        return redact_text(repr(value))
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    # Anything else is rendered with repr/str later: scrub that text now (pydantic models with
    # SecretStr fields already print '**********').
    return redact_text(str(value))


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace secret-looking values before anything renders them."""
    for key in list(event_dict):
        if key.startswith("_"):  # ProcessorFormatter's private _record/_from_structlog
            continue
        value = event_dict[key]
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(value)
    return event_dict


_FIRST = ("timestamp", "level", "logger", "event")


def _lead_keys(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """JSON lines start with when, how bad, who and what; the fields follow in call order."""
    ordered = {k: event_dict.pop(k) for k in _FIRST if k in event_dict}
    ordered.update(event_dict)
    return ordered


def _shared_processors() -> list[Processor]:
    """Run on every record: structlog's own and stdlib's (as ``foreign_pre_chain``)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]


def _resolve_level(level: str) -> int:
    try:
        return LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; one of {', '.join(LEVELS)}") from None


def _renderer(fmt: Literal["auto", "json", "console"], stream: TextIO) -> Processor:
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        fmt = "console" if isatty is not None and isatty() else "json"
    if fmt == "json":
        json_renderer = structlog.processors.JSONRenderer(sort_keys=False)

        def render(logger: WrappedLogger, name: str, event_dict: EventDict) -> str | bytes:
            return json_renderer(logger, name, _lead_keys(logger, name, event_dict))

        return render
    if fmt == "console":
        isatty = getattr(stream, "isatty", None)
        return structlog.dev.ConsoleRenderer(colors=bool(isatty and isatty()))
    raise ValueError(f"unknown log format {fmt!r}; one of auto, json, console")


class _AcdHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so a second configure replaces only its own."""


def _remove_ours(handlers: Iterable[logging.Handler], root: logging.Logger) -> None:
    for handler in list(handlers):
        if isinstance(handler, _AcdHandler):
            root.removeHandler(handler)


def configure_logging(
    fmt: Literal["auto", "json", "console"] = "auto",
    level: str = "info",
    stream: TextIO | None = None,
    *,
    cache: bool = True,
) -> None:
    """Send acd's and the libraries' logs to ``stream`` (default: stderr) as JSON or console lines.

    stderr, not stdout, so commands that print data (``acd replay --json``, ``acd check --json``)
    keep their stdout clean; under systemd both end up in the journal. ``level`` is one of
    debug/info/warning/error (case-insensitive); a bad value raises ``ValueError``.

    ``cache``: each logger keeps the configuration it first logged with (fast, and right for a
    process configured once); a process that configures again (the tests, at other levels) passes
    False so every logger follows the latest configuration.
    """
    out: TextIO = stream if stream is not None else sys.stderr
    numeric = _resolve_level(level)
    renderer = _renderer(fmt, out)
    shared = _shared_processors()

    handler = _AcdHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    _remove_ours(root.handlers, root)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        context_class=dict,
        cache_logger_on_first_use=cache,
    )
