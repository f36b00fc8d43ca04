"""A free loopback port for something a test starts as its own process (Prometheus, PostgreSQL,
``acd sim``), which cannot be handed a bound socket. Servers started in the test's own process
bind port 0 themselves. And a daemon's health, read the way an operator's probe reads it."""

from __future__ import annotations

import json
import socket
import urllib.request
from typing import Any

__all__ = ["free_port", "healthz"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthz(port: int) -> dict[str, Any] | None:
    """The daemon's /healthz body, None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            body: dict[str, Any] = json.loads(resp.read())
            return body
    except OSError:
        return None
