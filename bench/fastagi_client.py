"""Asterisk's side of a FastAGI dialogue, for the baseline in bench/bench_lookup.py: sends a
request, answers each command, records the dialogue."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"
REQUEST = (FIXTURES / "fastagi_request.txt").read_text(encoding="utf-8")
_SET = re.compile(r'^SET VARIABLE (\S+) "((?:[^"\\]|\\.)*)"$')


def request_for(
    callerid: str = "5551100",
    uniqueid: str = "1795879223.82",
    queue: str = "support",
    account: str = "",
    script: str = "route",
) -> str:
    """The captured request with the caller, channel uniqueid and AGI arguments replaced."""
    text = REQUEST.replace("5551100", callerid).replace("1795879223.82", uniqueid)
    text = text.replace("route?queue=support&mode=affinity", script)
    return text.replace("agi_arg_1: arg1", f"agi_arg_1: {queue}").replace(
        "agi_arg_2: arg2", f"agi_arg_2: {account}"
    )


@dataclass
class Dialogue:
    commands: list[str] = field(default_factory=list)
    elapsed: float = 0.0  # connect to server close, seconds
    closed_by_server: bool = False

    @property
    def variables(self) -> dict[str, str]:
        out = {}
        for cmd in self.commands:
            m = _SET.match(cmd)
            if m:
                out[m.group(1)] = re.sub(r"\\(.)", r"\1", m.group(2))
        return out


def agi_dialogue(
    port: int,
    request: str = REQUEST,
    reply: Callable[[str], str] = lambda cmd: "200 result=1",
    timeout: float = 5.0,
) -> Dialogue:
    """Play Asterisk: connect, send the environment, answer every command until the server closes."""
    d = Dialogue()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request.encode())
        buf = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                d.closed_by_server = True
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                cmd = line.decode()
                d.commands.append(cmd)
                sock.sendall((reply(cmd) + "\n").encode())
    d.elapsed = time.monotonic() - started
    return d
