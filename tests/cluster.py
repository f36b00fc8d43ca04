"""Processes for the several-servers and HA tests: `acd sim` servers and `acd run` nodes on one
PostgreSQL, each a process of its own, as in production.

- :func:`start_sim`: one simulated Asterisk with its own manager users (one per acd node, so the
  action log tells the nodes apart), the shipped ``acd-route`` dialplan (asking the given lookup
  ports, the second only when the first refuses), personal queues for its agents, a queue_log, the
  truth file and the log of every AMI action received;
- :class:`Node`: one ``acd run`` with its own HTTP and lookup ports and journal, on the shared
  database; :meth:`Node.wait_role` measures how long a node took to lead.

Waits are on conditions with generous deadlines; the only wall-clock claims are the ones the
product makes (a standby leads within 10 s), measured and reported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.credentials import random_secret
from tests.support.ports import free_port, healthz
from tests.support.waiting import wait_until

__all__ = ["ACD", "Node", "Sim", "free_port", "pg_rows", "start_sim"]

ACD = [sys.executable, "-m", "acd.cli"]
ROOT = Path(__file__).resolve().parent.parent
INBOUND = """
[inbound]
exten => _X.,1,Answer()
 same => n,Set(ACD_QUEUE=${SIM_QUEUE})
 same => n,Goto(acd-route,route,1)

"""
# Actions any AMI session sends to stay up: a node that does not lead may send these, no other.
KEEPALIVE = frozenset({"login", "logoff", "ping", "challenge"})


def agents(n: int) -> list[str]:
    return [f"Local/{1001 + i}@agents" for i in range(n)]


@dataclass
class Sim:
    dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    users: dict[str, str]
    queue_log: Path
    truth_path: Path
    action_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def truth(self) -> list[dict[str, Any]]:
        lines = self.truth_path.read_text().splitlines() if self.truth_path.exists() else []
        return [json.loads(x) for x in lines if x.strip()]

    def actions(self) -> list[dict[str, Any]]:
        if not self.action_path.exists():
            return []
        return [json.loads(x) for x in self.action_path.read_text().splitlines() if x.strip()]

    def acting(self, user: str, after: float) -> list[dict[str, Any]]:
        """Actions of ``user`` after wall time ``after`` other than keeping the session up."""
        return [
            a
            for a in self.actions()
            if a["user"] == user and a["at"] > after and a["action"].lower() not in KEEPALIVE
        ]

    def finished(self) -> bool:
        return self.proc.poll() is not None


def start_sim(
    dir: Path,
    users: Sequence[str],
    *,
    lookups: Sequence[int] = (),
    calls: int,
    speed: float,
    seed: int,
    rate: float,
    agent_count: int = 8,
    extra: Sequence[str] = (),
) -> Sim:
    """A simulated Asterisk in its own process; ``lookups``: the routing lookup ports the dialplan
    asks (the first; the second when the first refuses); none: callers go straight to queues."""
    from acd.asterisk_config import from_settings, render_dialplan, render_queues
    from acd.settings import Settings

    dir.mkdir(parents=True, exist_ok=True)
    secrets = {u: random_secret() for u in users}
    manager = ["[general]", "enabled = yes", "timestampevents = yes", ""]
    for user, secret in secrets.items():
        manager += [
            f"[{user}]",
            f"secret = {secret}",
            "read = system,call,agent,user",
            "write = reporting,agent,user",
            "writetimeout = 1000",
            "",
        ]
    (dir / "manager.conf").write_text("\n".join(manager))
    staff = agents(agent_count)
    routing: dict[str, Any] = {}
    if lookups:
        routing = {"port": lookups[0]}
        if len(lookups) > 1:
            routing["other_node"] = f"127.0.0.1:{lookups[1]}"
    cfg = from_settings(Settings(routing=routing), staff)  # type: ignore[arg-type]
    queues = (ROOT / "acd" / "sim" / "queues.conf").read_text().replace("wrapuptime = 5", "wrapuptime = 0")
    (dir / "queues.conf").write_text(queues + render_queues(cfg))
    args = [
        *ACD, "sim", "--port", "0", "--manager-conf", str(dir / "manager.conf"),
        "--queues-conf", str(dir / "queues.conf"), "--speed", str(speed), "--rate", str(rate),
        "--agents", str(agent_count), "--seed", str(seed), "--calls", str(calls), "--hold",
        "--truth", str(dir / "truth.jsonl"), "--queue-log", str(dir / "queue_log"),
        "--action-log", str(dir / "actions.jsonl"), "--queues", "support",
        *extra,
    ]  # fmt: skip
    if lookups:
        (dir / "extensions.conf").write_text(INBOUND + render_dialplan(cfg))
        args += ["--dialplan", str(dir / "extensions.conf")]
    log = (dir / "sim.log").open("wb")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, cwd=dir)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert "AMI on" in line, line + (dir / "sim.log").read_text()
    port = int(line.split("AMI on ")[1].split()[0].rsplit(":", 1)[1])
    return Sim(dir, port, proc, secrets, dir / "queue_log", dir / "truth.jsonl", dir / "actions.jsonl")


@dataclass
class Node:
    """``acd run`` as a process of its own."""

    name: str
    dir: Path
    sim: Sim
    user: str
    db_url: str
    server: str = "asterisk"
    routing_port: int = field(default_factory=free_port)
    other_port: int | None = None
    speed: float = 1.0
    env: dict[str, str] = field(default_factory=dict)
    http: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.dir / f"{self.name}.log"

    def start(self) -> Node:
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}
        env.update(
            {
                "ACD_SERVER_ID": self.server,
                "ACD_HA__NODE": self.name,
                "ACD_AMI__PORT": str(self.sim.port),
                "ACD_AMI__USERNAME": self.user,
                "ACD_AMI__SECRET": self.sim.users[self.user],
                "ACD_AMI__RECONNECT_MIN": "0.1",
                "ACD_AMI__RECONNECT_MAX": "1",
                "ACD_HTTP__PORT": str(self.http),
                "ACD_ROUTING__PORT": str(self.routing_port),
                "ACD_ROUTING__OTHER_NODE": f"127.0.0.1:{self.other_port}" if self.other_port else "",
                "ACD_DATABASE__URL": self.db_url,
                "ACD_DATABASE__SPOOL_DIR": str(self.dir / f"{self.name}-spool"),
                "ACD_QUEUE_LOG__PATH": str(self.sim.queue_log),
                "ACD_SPEED": str(self.speed),
                "ACD_LOG_FORMAT": "json",
                "ACD_AFFINITY__ALLOWED_PAUSE_REASONS": "[]",
                **self.env,
            }
        )
        fh = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*ACD, "run"], stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=self.dir
        )
        fh.close()
        return self

    def health(self) -> dict[str, Any] | None:
        return healthz(self.http)

    def role(self) -> str | None:
        health = self.health()
        return None if health is None else str(health.get("role"))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_role(self, role: str, timeout: float = 60.0) -> float:
        """Seconds until this node reports ``role`` (fails after ``timeout``)."""
        started = time.monotonic()
        wait_until(
            lambda: self.role() == role,
            timeout,
            what=f"{self.name} as {role}",
            describe=lambda: self.log.read_text()[-3000:],
            interval=0.05,
        )
        return time.monotonic() - started

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with_event = json.loads(line)
                if name is None or with_event.get("event") == name:
                    out.append(with_event)
        return out


def pg_rows(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts, over a plain (synchronous) connection."""
    import psycopg
    from psycopg.rows import dict_row

    plain = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    with psycopg.connect(plain, row_factory=dict_row) as conn:
        return list(conn.execute(sql, args).fetchall())  # type: ignore[arg-type]
