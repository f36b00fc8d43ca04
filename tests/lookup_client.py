"""Asterisk's side of the routing lookup, for tests: one GET over a raw socket, the answer read
the way func_curl's hashcompat reads it (split on & and =, %XX decoded)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote


@dataclass
class Lookup:
    status: str
    body: str
    elapsed: float

    @property
    def fields(self) -> dict[str, str]:
        out = {}
        for piece in self.body.split("&") if self.body else ():
            name, _, value = piece.partition("=")
            out[unquote(name)] = unquote(value)
        return out

    @property
    def keys(self) -> list[str]:
        return [unquote(p.partition("=")[0]) for p in self.body.split("&")] if self.body else []


def request_line(path: str = "/route", **params: str) -> bytes:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    target = f"{path}?{query}" if query else path
    return (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: asterisk-libcurl-agent/1.0\r\n\r\n".encode()
    )


def raw(port: int, data: bytes, timeout: float = 2.0) -> Lookup:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    response = b"".join(chunks).decode("utf-8", "replace")
    head, _, body = response.partition("\r\n\r\n")
    return Lookup(head.split("\r\n", 1)[0], body, time.monotonic() - started)


def lookup(port: int, path: str = "/route", timeout: float = 2.0, **params: str) -> Lookup:
    return raw(port, request_line(path, **params), timeout)
