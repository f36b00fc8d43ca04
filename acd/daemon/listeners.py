"""The ports the daemon listens on: found free before anything starts, and the HTTP site bound.

Why checked first: a taken port found after the database was migrated and AMI connected would
leave a half-started daemon to undo; found first, it is one line and exit code 2
(:class:`CannotListen`, reported by :func:`acd.daemon.run.run_daemon`).
"""

from __future__ import annotations

import os

from aiohttp import web

from acd.settings import HttpSettings, Settings

__all__ = ["CannotListen", "check_ports", "serve_http"]

_HTTP_WHAT = "HTTP API and /metrics"
_HTTP_HINT = "ACD_HTTP__PORT chooses another port"


class CannotListen(Exception):
    """A port acd must listen on is taken or not allowed: the command says so in one line, exit 2."""


def check_ports(settings: Settings) -> None:
    """A taken HTTP or lookup port is found before anything starts (the binds come later)."""
    from acd.ports import bind_problem

    http = settings.http
    why = bind_problem(http.host, http.port)
    if why is not None:
        raise CannotListen(f"{_HTTP_WHAT} on {http.host}:{http.port}: {why}; {_HTTP_HINT}")
    routing = settings.routing
    why = bind_problem(routing.host, routing.port)
    if why is not None:
        raise CannotListen(
            f"routing lookup on {routing.host}:{routing.port}: {why}; ACD_ROUTING__PORT chooses another "
            "port (and regenerate the dialplan with acd asterisk-config)"
        )


async def serve_http(app: web.Application, http: HttpSettings) -> tuple[web.AppRunner, int]:
    """Serve ``app`` where ``http`` says; returns its runner and the port actually bound (the
    configured one, or the kernel's pick for port 0)."""
    from acd.api.app import app_runner

    runner = app_runner(app, http)
    await runner.setup()
    site = web.TCPSite(runner, http.host, http.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise CannotListen(f"{_HTTP_WHAT} on {http.host}:{http.port}: {why}; {_HTTP_HINT}") from None
    addresses = runner.addresses
    return runner, int(addresses[0][1]) if addresses else http.port
