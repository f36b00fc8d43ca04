"""The daemon's log lines for what the AMI client reports, one per notice.

The client reports what happened (:mod:`acd.ami.notices`) and logs none of it; the daemon decides
what each means for an operator: a disconnect after a session is a warning (events are missing
until the resync), our own clean stop is not, and a connection that never got a session is
logged once by its ``ConnectFailed`` or ``AuthFailed``, not again as a disconnect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import structlog

from acd.ami.notices import (
    AuthFailed,
    Connected,
    ConnectFailed,
    ConnectionEvent,
    Disconnected,
    FullyBooted,
    LoggedIn,
)
from acd.settings import AmiSettings

__all__ = ["log_notice", "note_timestamps"]

log = structlog.get_logger("acd.daemon")


def log_notice(notice: ConnectionEvent, ami: AmiSettings, booted_fallback: float) -> None:
    """Log ``notice`` for the connection to ``ami``; ``booted_fallback``: the seconds the client
    waits for FullyBooted before standing in for it."""
    if isinstance(notice, FullyBooted):
        if notice.synthetic:
            log.warning(
                "ami_fully_booted_missing",
                waited=booted_fallback,
                effect="resyncing without it",
                fix="give the manager user read class system",
            )
    elif isinstance(notice, Connected):
        log.info("ami_connected", ami=f"{ami.host}:{ami.port}", banner=notice.banner)
    elif isinstance(notice, LoggedIn):
        log.info("ami_logged_in", user=ami.username)
    elif isinstance(notice, Disconnected):
        if notice.reason == "closed":  # our own clean stop
            log.info("ami_disconnected", reason=notice.reason)
        elif notice.was_logged_in:
            log.warning("ami_disconnected", reason=notice.reason)
        else:  # no session began: ConnectFailed or AuthFailed says why, once
            log.debug("ami_disconnected", reason=notice.reason)
    elif isinstance(notice, AuthFailed):
        log.error(
            "ami_login_refused",
            user=ami.username,
            ami=f"{ami.host}:{ami.port}",
            message=notice.message,
            retry_in=round(notice.retry_in, 1),
        )
    elif isinstance(notice, ConnectFailed):
        log.warning(
            "ami_unreachable",
            ami=f"{ami.host}:{ami.port}",
            error=notice.error,
            attempt=notice.attempt,
            retry_in=round(notice.retry_in, 2),
        )


def note_timestamps(event: Mapping[str, str], report: Callable[[bool], None]) -> bool:
    """The first broadcast event tells whether Asterisk stamps events (timestampevents): reported
    to ``report`` (the metric), and logged when it does not. True once known (the consumer then
    stops asking)."""
    if "Privilege" not in event or event.get("Event") == "FullyBooted":
        return False  # the login's FullyBooted is written to the session, never with a Timestamp
    on = "Timestamp" in event
    report(on)
    if not on:
        log.warning(
            "ami_timestamps_off",
            effect="events are timed when read: a stall in acd shifts waits and talk times",
            fix="timestampevents = yes in manager.conf [general], then: manager reload",
        )
    return True
