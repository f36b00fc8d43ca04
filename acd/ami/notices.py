"""What the AMI client tells its owner: notices of what happened to the connection, and counters.

Why notices and not log lines: the client cannot know what a disconnect or a refused login means
to its owner (a gap in the core's events for the daemon, a line on the screen for ``acd check``),
so it reports each as a value and the owner decides what to log, once
(:class:`acd.ami.connection.AmiClient` calls ``on_state`` with them).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AmiStats",
    "AuthFailed",
    "ConnectFailed",
    "Connected",
    "ConnectionEvent",
    "Disconnected",
    "FullyBooted",
    "LoggedIn",
    "WireAnomaly",
]


@dataclass(frozen=True, slots=True)
class Connected:
    """TCP (and TLS) up and the AMI banner read; not yet logged in."""

    banner: str
    at: float


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """Login accepted: actions may be sent. Asterisk may still be booting: wait for FullyBooted."""

    at: float


@dataclass(frozen=True, slots=True)
class FullyBooted:
    """Asterisk's ``FullyBooted`` event on this session: the moment to resync.

    ``synthetic``: no such event came within ``booted_fallback`` seconds of the login (a manager
    user without read class ``system`` never receives it), so the client stands in for it.
    """

    headers: dict[str, str]
    at: float
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A session that had reached :class:`Connected` ended; ``was_logged_in`` marks a gap in events."""

    reason: str
    at: float
    was_logged_in: bool = False


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """Asterisk refused the login (wrong user or secret, or an ACL). The next try is ``retry_in`` away."""

    message: str
    at: float
    retry_in: float = 0.0


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """A connection attempt failed before a session began (refused, unreachable, no banner, TLS);
    the next attempt is ``retry_in`` away. ``attempt`` counts the failures since the last session."""

    error: str
    at: float
    retry_in: float
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class WireAnomaly:
    """Bytes that were not well-formed AMI: ``kind`` is the codec's (bad_line, lf_framing, oversized,
    bad_banner) or ``truncated`` (a message cut by a disconnect). Counted and skipped, never fatal."""

    kind: str
    detail: str
    at: float


ConnectionEvent = Connected | LoggedIn | FullyBooted | Disconnected | AuthFailed | ConnectFailed | WireAnomaly


@dataclass(slots=True)
class AmiStats:
    """Counters for metrics and ``acd check``; plain ints, read at scrape time."""

    messages: int = 0  # complete messages read (events and responses)
    events: int = 0  # messages with an Event header, each passed to on_message
    bytes: int = 0
    anomalies: int = 0  # wire anomalies (see WireAnomaly)
    handler_errors: int = 0  # exceptions raised by on_message / on_state, swallowed
    connect_attempts: int = 0
    logins: int = 0  # accepted logins
    reconnects: int = 0  # accepted logins after the first
    auth_failures: int = 0
    ping_timeouts: int = 0
    actions_sent: int = 0
    actions_resent: int = 0  # safe reads written again after a reconnect
    action_timeouts: int = 0
    last_error: str | None = None
