"""Establishing a session: the Login action, and the ways an attempt fails told apart.

Why told apart: a refused login (wrong user or secret, an ACL) is not a network fault. Retrying
it at the network's pace would fill Asterisk's security log with refused logins, so the client
waits ``auth_retry`` before the next one; a lost or silent connection is retried with backoff.

The secret is written in the Login action and nowhere else: no exception or log line here
carries it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from acd.ami.actions import ActionResult, AmiActionError, AmiNotConnected, AmiTimeout
from acd.ami.protocol import AmiProtocol
from acd.settings import AmiSettings

__all__ = ["LoginRefused", "SessionDropped", "log_in"]

Send = Callable[[Mapping[str, str], str, float, AmiProtocol], Awaitable[ActionResult]]


class LoginRefused(Exception):
    """Asterisk answered the Login with an error; ``message`` is its reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SessionDropped(Exception):
    """The session could not be established (no banner, connection closed early, Login unanswered)."""


async def log_in(
    send: Send, proto: AmiProtocol, lost: asyncio.Future[str], settings: AmiSettings, action_id: str
) -> None:
    """Log in on ``proto`` with ``action_id`` (known to the caller beforehand: the answer flips
    the client's state before the next message of the same read is delivered). Raises
    :class:`LoginRefused` or :class:`SessionDropped`; the connection is dropped on either."""
    login = {
        "Action": "Login",
        "ActionID": action_id,
        "Username": settings.username,
        "Secret": settings.secret.get_secret_value(),
        "Events": "on",
    }
    try:
        await send(login, "Login", settings.action_timeout, proto)
    except AmiActionError as exc:
        proto.drop("login refused")
        raise LoginRefused(exc.message or "no reason given") from None
    except AmiNotConnected:  # lost after the write (AmiConnectionLost) or before it
        raise SessionDropped(lost.result() if lost.done() else "connection lost during login") from None
    except AmiTimeout:
        proto.drop("login unanswered")
        raise SessionDropped(f"no answer to Login within {settings.action_timeout:g}s") from None
