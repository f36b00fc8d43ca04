"""Can a listener bind ``host:port``? Asked before anything starts, so a taken port is one clear
line (``acd run``, ``acd demo``, ``acd check``) instead of a traceback after half a start-up."""

from __future__ import annotations

import errno
import socket

__all__ = ["bind_problem"]


def bind_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound right now, in a few words; None when it can (or port 0).

    Binds and releases at once, with ``SO_REUSEADDR`` as the daemon's listeners use it, so a port
    in TIME_WAIT after a restart is not reported as taken.
    """
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        return f"cannot resolve {host!r} ({err.strerror})"
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    return "in use (is acd already running?)"
                if err.errno == errno.EADDRNOTAVAIL:
                    return "no such address on this host"
                if err.errno == errno.EACCES:
                    return "permission denied"
                return (err.strerror or str(err)).lower()
    return None
