"""A free loopback port for something a test starts as its own process (Prometheus, PostgreSQL,
``acd sim``), which cannot be handed a bound socket. Servers started in the test's own process
bind port 0 themselves."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
