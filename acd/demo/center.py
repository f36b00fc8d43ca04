"""The demo's call center: its reps, its secrets and the Asterisk files the simulator runs.

The simulator is given exactly what ``acd asterisk-config`` writes for a real Asterisk (the
``acd-route`` context with its bounded ``CURL()`` lookup, one personal queue per rep, the least-
privilege manager user, ``timestampevents = yes``) plus the few lines a center adds itself: its
inbound context, its shared queues and the secrets. So the demo shows the shipped configuration
working, not a demo-only shortcut.

Every secret (the AMI secrets, the sign-in tokens) is made up for this run and lives only in this
process, a private directory the run deletes, and the banner that prints the sign-ins.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acd.asterisk_config import (
    from_settings,
    render_dialplan,
    render_manager,
    render_manager_general,
    render_queues,
    render_queues_example,
)
from acd.demo.staffing import reps_for, service_level
from acd.settings import Settings
from acd.sim.traffic import AGENT_NAMES

__all__ = [
    "HANDLE_SECONDS",
    "INBOUND_CONTEXT",
    "PERSONAS",
    "QUEUES",
    "Center",
    "Rep",
    "make_center",
    "write_asterisk_files",
]

QUEUES = ("sales", "support")
SERVICE_LEVEL_SECONDS = 20.0
WRAPUP_SECONDS = 5
TALK_SECONDS = 120.0  # the simulator's mean talk time
# What one call costs a rep: talk, about 3 s of ringing, the wrap-up.
HANDLE_SECONDS = TALK_SECONDS + 3.0 + WRAPUP_SECONDS
SL_TARGET = 0.8
# The center's callers (live and history alike): a call in 12 is cut off (a dropped mobile line,
# a flaky trunk), 8 in 10 of those customers call back, after about 5 minutes on average.
CUTOFF_SHARE = 0.08
CALLBACK_SHARE = 0.8
CALLBACK_DELAY_SECONDS = 300.0
INBOUND_CONTEXT = "demo-inbound"
PHONES_USER = "demo-phones"

# How each rep uses acd, by position in the team (the rest are "steady"). See acd/demo/reps.py.
PERSONAS = ("careful", "rushed", "early_release", "closer", "haggler", "haggler")


def _token() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True, slots=True)
class Rep:
    exten: str
    name: str
    persona: str
    token: str = field(repr=False)

    @property
    def interface(self) -> str:
        """The rep's state interface, as the simulator logs them in."""
        return f"Local/{self.exten}@agents"


@dataclass(frozen=True)
class Center:
    """One demo run's center: who works there and how to reach everything."""

    reps: tuple[Rep, ...]
    rate: float  # calls per minute over both queues
    speed: float
    ami_port: int
    lookup_port: int
    ami_secret: str = field(repr=False, default_factory=_token)
    phones_secret: str = field(repr=False, default_factory=_token)
    supervisor_token: str = field(repr=False, default_factory=_token)
    wallboard_token: str = field(repr=False, default_factory=_token)

    @property
    def expected_service_level(self) -> float:
        return service_level(self.rate, HANDLE_SECONDS, len(self.reps), SERVICE_LEVEL_SECONDS)

    def rep(self, name: str) -> Rep:
        return next(r for r in self.reps if r.name == name)

    def api_tokens(self) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = [
            {"token": self.supervisor_token, "role": "supervisor"},
            {"token": self.wallboard_token, "role": "wallboard"},
        ]
        tokens += [{"token": r.token, "role": "agent", "agent": r.interface} for r in self.reps]
        return tokens

    def settings_overrides(self, base: Settings) -> dict[str, Any]:
        """What the demo sets on top of the operator's ACD_* settings: its AMI login, the routing
        lookup the dialplan asks, affinity for its reps, per-rep metrics, the sign-ins, the queues'
        wrap-up and service level (the same numbers queues.conf gets)."""
        return {
            "ami": {
                **base.ami.model_dump(),
                "host": "127.0.0.1",
                "port": self.ami_port,
                "username": "acd",
                "secret": self.ami_secret,
                "reconnect_min": 0.2,
            },
            "routing": {**base.routing.model_dump(), "host": "127.0.0.1", "port": self.lookup_port},
            "affinity": {
                **base.affinity.model_dump(),
                "enabled": True,
                "agents": [r.interface for r in self.reps],
            },
            "queues": {
                q: {"wrapup_seconds": WRAPUP_SECONDS, "service_level_seconds": SERVICE_LEVEL_SECONDS}
                for q in QUEUES
            },
            "metrics_per_agent": True,
            "api_tokens": self.api_tokens(),
            "speed": self.speed,
        }


def make_center(*, rate: float, speed: float, reps: int | None, ami_port: int, lookup_port: int) -> Center:
    """The team for ``rate`` calls a minute: ``reps`` of them, else as many as Erlang C says a
    service level of 80% in 20 s needs."""
    count = reps if reps is not None else reps_for(rate, HANDLE_SECONDS, SERVICE_LEVEL_SECONDS, SL_TARGET)
    team = []
    for i in range(count):
        name = AGENT_NAMES[i % len(AGENT_NAMES)] + (
            "" if i < len(AGENT_NAMES) else str(i // len(AGENT_NAMES))
        )
        persona = PERSONAS[i] if i < len(PERSONAS) else "steady"
        team.append(Rep(str(1001 + i), name, persona, _token()))
    return Center(tuple(team), rate, speed, ami_port, lookup_port)


def write_asterisk_files(center: Center, settings: Settings, directory: Path) -> dict[str, Path]:
    """manager.conf, queues.conf and extensions.conf for the simulator, in ``directory``.

    Each is what ``acd asterisk-config`` renders for these settings and reps, with the center's own
    part around it: the secrets, the shared queues and the inbound context sending every caller
    to ``acd-route``. Written 0600: the secrets are in them."""
    cfg = from_settings(settings, [r.interface for r in center.reps])
    manager = render_manager(cfg).replace("secret = CHANGE-ME", f"secret = {center.ami_secret}")
    if center.ami_secret not in manager:
        raise RuntimeError("the generated manager.conf has no secret line to fill")
    phones = (
        "\n; The demo's phones: the reps' hang-up button (Hangup on their own call), nothing else.\n"
        f"[{PHONES_USER}]\n"
        f"secret = {center.phones_secret}\n"
        "read = agent\n"
        "write = call\n"
    )
    shared = "\n".join(
        line for line in render_queues_example(cfg).splitlines() if not line.startswith("#include")
    )
    inbound = (
        "; The center's inbound context: every caller asks acd where to go (SIM_QUEUE is the queue\n"
        "; the simulated caller wants, as a DID or an IVR choice would say).\n"
        f"[{INBOUND_CONTEXT}]\n"
        "exten => _X.,1,Answer()\n"
        " same => n,Set(ACD_QUEUE=${SIM_QUEUE})\n"
        " same => n,Goto(acd-route,route,1)\n\n"
    )
    files = {
        "manager.conf": render_manager_general(cfg) + "\n" + manager + phones,
        "queues.conf": shared + "\n" + render_queues(cfg),
        "extensions.conf": inbound + render_dialplan(cfg),
    }
    out: dict[str, Path] = {}
    for name, text in files.items():
        path = directory / name
        path.touch(mode=0o600)
        path.write_text(text, encoding="utf-8")
        out[name] = path
    return out
