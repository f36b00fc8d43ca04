"""The session's own actions: Challenge and Login (MD5 or plain secret, Asterisk's ~1 s delay and
security events on a refusal, FullyBooted once booted), Logoff, Events, Ping."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from acd.sim.emit import event, response
from acd.sim.server import Session, reply

if TYPE_CHECKING:
    from acd.sim.simulator import Simulator


def challenge(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    if m.get("AuthType", "").lower() != "md5":
        reply(s, aid, "Must specify AuthType", "Error")
        return
    s.challenge = str(random.randrange(10**8, 10**9))
    s.send(response(aid, None, extra=(("Challenge", s.challenge),)))


def login(sim: Simulator, s: Session, msg: dict[str, str], aid: str | None) -> None:
    user = s.check_login(msg)
    if user is None:
        s.closing = True  # read nothing more; answer after Asterisk's ~1 s delay

        async def _fail() -> None:
            await asyncio.sleep(1.0)
            s.closing = False
            reply(s, aid, "Authentication failed", "Error")
            s.close()
            sim.server.security(
                "InvalidPassword",
                s,
                (
                    ("EventVersion", 2),
                    ("AccountID", msg.get("Username", "")),
                    ("SessionID", s.session_id),
                    ("LocalAddress", s.local),
                    ("RemoteAddress", s.remote),
                    ("SessionTV", "1970-01-01T00:00:00.000+0000"),
                ),
            )

        sim.spawn(_fail())
        return
    s.user = user
    s.set_events(msg.get("Events", "on"))
    reply(s, aid, "Authentication accepted")
    sim.client_logged_in()
    if sim.booted:
        if "system" in s.mask and s.events_on:
            up = int(sim.now() - sim.boot_time)
            s.send(
                event(
                    "FullyBooted",
                    "system",
                    (("Uptime", up), ("LastReload", up), ("Status", "Fully Booted")),
                    sim.ts(),
                )[1]
            )
    else:
        s.await_boot = True
    sim.server.security(
        "SuccessfulAuth",
        s,
        (
            ("EventVersion", 1),
            ("AccountID", user.name),
            ("SessionID", s.session_id),
            ("LocalAddress", s.local),
            ("RemoteAddress", s.remote),
            ("UsingPassword", 0),
            ("SessionTV", s.session_tv),
        ),
        severity="Informational",
    )


# ---- informational --------------------------------------------------------------------------
def a_ping(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    now = sim.now()
    s.send(response(aid, None, extra=(("Ping", "Pong"), ("Timestamp", f"{now:.6f}"))))


def a_events(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    s.set_events(m.get("EventMask", "on"))
    s.send(response(aid, None, extra=(("Events", "On" if s.events_on else "Off"),)))


def a_logoff(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    s.send(response(aid, "Thanks for all the fish.", "Goodbye"))
    s.close()
