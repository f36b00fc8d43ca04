"""Browser sign-in: an acd API token typed once, then a sealed session cookie.

Why this shape:
- The pages accept the same tokens as the JSON API (one list to manage, ``ACD_API_TOKENS``);
  the token itself never goes into the cookie. The cookie (sealed with Fernet by aiohttp-session,
  HttpOnly, SameSite=Strict) holds a keyed fingerprint of the token, a CSRF token and the sign-in
  time. Every request looks the fingerprint up among the tokens configured now, so removing a
  token from the configuration signs its browsers out at the next restart, and a sign-in ends
  ``ACD_PAGES__SESSION_HOURS`` after it began however active the browser is.
- Every form carries the session's CSRF token; a POST without the right one is refused (SameSite
  already stops other sites' forms in current browsers; the token also covers older ones and a
  sibling site on the same domain). A POST whose ``Origin`` names another site is refused too.
- Sign-in attempts are limited per client address (:class:`~acd.web.ratelimit.AttemptLimiter`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import structlog
from aiohttp import web
from aiohttp_session import Session, get_session, new_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from acd.api.auth import Principal, Role
from acd.settings import Settings

__all__ = [
    "COOKIE_NAME",
    "Visitor",
    "cookie_storage",
    "csrf_token",
    "fingerprints",
    "roles",
    "safe_next",
    "session_key",
]

log = structlog.get_logger("acd.web")

COOKIE_NAME = "acd_session"
ALL_ROLES: tuple[Role, ...] = ("agent", "supervisor", "wallboard")


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in browser: who it speaks for and its CSRF token."""

    principal: Principal
    csrf: str
    signed_in_at: float

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def agent(self) -> str | None:
        return self.principal.agent

    @property
    def is_supervisor(self) -> bool:
        return self.principal.is_supervisor


def session_key(settings: Settings) -> tuple[bytes, bool]:
    """The cookie-sealing key (32 bytes, derived from the configured secret) and whether it was
    configured; without one a random key is made, so sign-ins last until the next restart."""
    secret = settings.pages.session_secret.get_secret_value()
    if not secret:
        return secrets.token_bytes(32), False
    return hashlib.sha256(b"acd pages session\0" + secret.encode()).digest(), True


def cookie_storage(settings: Settings, key: bytes) -> EncryptedCookieStorage:
    return EncryptedCookieStorage(
        key,  # raw 32 bytes: the storage encodes them for Fernet
        cookie_name=COOKIE_NAME,
        max_age=int(settings.pages.session_hours * 3600),
        path="/",
        secure=settings.pages.secure_cookie,
        httponly=True,
        samesite="Strict",
    )


def fingerprints(key: bytes, tokens: Iterable[tuple[str, Principal]]) -> dict[str, Principal]:
    """token fingerprint -> principal; the fingerprint is what a session cookie names."""
    return {fingerprint(key, token): principal for token, principal in tokens}


def fingerprint(key: bytes, token: str) -> str:
    return hmac.new(key, b"token\0" + token.encode(), hashlib.sha256).hexdigest()[:32]


def roles(*allowed: Role) -> Callable[[Callable[..., Awaitable[web.StreamResponse]]], Any]:
    """Mark a page handler with the roles that may open it (the pages' middleware enforces it)."""

    def mark(handler: Callable[..., Awaitable[web.StreamResponse]]) -> Any:
        handler.acd_roles = frozenset(allowed)  # type: ignore[attr-defined]
        return handler

    return mark


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a local path only (never another site)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target:
        return "/"
    return target


def login_url(request: web.Request) -> str:
    here = request.path_qs if request.method in ("GET", "HEAD") else "/"
    return "/login" if here == "/" else f"/login?next={quote(here, safe='/')}"


async def csrf_token(request: web.Request) -> str:
    """The session's CSRF token, made on first use (the sign-in form needs one before sign-in)."""
    session = await get_session(request)
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def visitor_of(
    request: web.Request, known: dict[str, Principal], now: float, max_age: float
) -> Visitor | None:
    session = await get_session(request)
    fp = session.get("fp")
    principal = known.get(fp) if isinstance(fp, str) else None
    if principal is None:
        return None
    at = session.get("at")
    if not isinstance(at, int | float) or not at <= now < at + max_age:
        session.invalidate()
        return None
    return Visitor(principal, str(session.get("csrf", "")), float(at))


async def start_session(request: web.Request, fp: str, now: float) -> Session:
    """A fresh session for a successful sign-in (never reuse the pre-sign-in one: fixation)."""
    session = await new_session(request)
    session["fp"] = fp
    session["at"] = now
    session["csrf"] = secrets.token_urlsafe(32)
    return session


async def csrf_ok(request: web.Request, expected: str) -> bool:
    """The POST carries the session's CSRF token (form field ``csrf`` or ``X-CSRF-Token``) and does
    not come from another site's page."""
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        host = urlsplit(origin).netloc
        if host != request.host:
            return False
    offered = request.headers.get("X-CSRF-Token")
    if offered is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get("csrf")
        offered = value if isinstance(value, str) else None
    return bool(expected) and offered is not None and hmac.compare_digest(offered.encode(), expected.encode())
