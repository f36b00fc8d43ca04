"""Bearer tokens from configuration, each with a role (agent, supervisor or wallboard).

Only ``/api/v1/`` needs a token; ``/api/openapi.json`` and the metrics route do not. Tokens are
compared in constant time and never logged. 401: missing or unknown token; 403 is decided by each
handler (an agent acting for someone else). A ``wallboard`` token is for a screen on the wall: it
signs in to the wallboard page and is refused by the JSON API. The pages' sign-in looks tokens up
in the same :class:`TokenBook`, so one list of tokens serves both.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from acd.settings import ApiToken

__all__ = ["Principal", "TokenBook", "auth_middleware", "json_error", "principal_of"]

Role = Literal["agent", "supervisor", "wallboard"]


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    agent: str | None  # state interface for agent tokens
    name: str | None = None  # who holds the token, when configured (kept in audit trails)

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    @property
    def written_by(self) -> str:
        """Who a write is recorded as: the agent, else the token's holder, else the role."""
        return self.agent or self.name or "supervisor"


_REQUEST_KEY: web.RequestKey[Principal] = web.RequestKey("principal", Principal)


def json_error(
    status: int, error: str, *, headers: dict[str, str] | None = None, **extra: object
) -> web.Response:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="acd"'}
    return web.json_response({"error": error, **extra}, status=status, headers=headers)


def principal_of(request: web.Request) -> Principal:
    return request[_REQUEST_KEY]


class TokenBook:
    """The configured tokens; :meth:`find` compares against every one in constant time."""

    def __init__(self, tokens: Sequence[ApiToken]) -> None:
        self._known = [
            (t.token.get_secret_value().encode(), Principal(t.role, t.agent, t.name)) for t in tokens
        ]

    def find(self, offered: str) -> Principal | None:
        value = offered.encode()
        found: Principal | None = None
        for token, principal in self._known:
            if hmac.compare_digest(token, value):
                found = principal
        return found

    def __len__(self) -> int:
        return len(self._known)


def auth_middleware(tokens: Sequence[ApiToken]) -> Callable[..., Awaitable[web.StreamResponse]]:
    book = TokenBook(tokens)

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/api/v1/"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return json_error(401, "missing bearer token")
        found = book.find(value.strip())
        if found is None:
            return json_error(401, "unknown token")
        if found.role == "wallboard":
            return json_error(403, "a wallboard token signs in to the wallboard page only")
        request[_REQUEST_KEY] = found
        return await handler(request)

    return middleware
