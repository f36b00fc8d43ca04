"""The demo's reps at work: each one uses acd as a real rep does, with their own token.

A rep's desk, seen from outside: every second or so the rep looks at their recent calls
(``GET /api/v1/calls``, which lists an agent's own calls), opens each finished call that has no
outcome yet (``GET /api/v1/calls/{id}``; for a callback, also the earlier call the screen pop
shows) and posts the outcome their persona writes (``POST /api/v1/calls/{id}/outcome``; see
acd/demo/personas.py). Only through the HTTP API: the driver never reads the daemon's memory or
database, so what the reps do is what any client of acd can do.

The one thing a rep does on the phone rather than in acd, hanging up early, goes to the simulated
Asterisk over AMI as a phone's hang-up would: the ``early_release`` rep's AMI session (a manager
user that may only read agent events and hang up) sees the rep connected (``AgentConnect``) and
sends ``Hangup`` on the rep's side of the call after a few seconds of talk.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from acd.ami.actions import AmiError
from acd.ami.connection import AmiClient, AuthFailed, ConnectFailed, ConnectionEvent, Disconnected, LoggedIn
from acd.demo.center import PHONES_USER, Center, Rep
from acd.demo.personas import CallSeen, Decision, EarlyRelease, Order, Previous, decide

__all__ = ["RepDriver", "RepStats"]

log = structlog.get_logger("acd.demo.reps")

POLL_SECONDS = 1.0


@dataclass
class RepStats:
    posted: int = 0
    without_notes: int = 0  # empty or a token word ("ok")
    sales: int = 0
    orders_opened: int = 0
    orders_closed: int = 0
    released_early: int = 0
    phone_sessions: int = 0  # logins of the phones' AMI session (more than 1: it reconnected)
    refused: int = 0  # posts acd refused (4xx/5xx): should stay 0
    by_rep: dict[str, int] = field(default_factory=dict)


class RepDriver:
    """Start with :meth:`start` once the daemon serves HTTP; :meth:`close` before it stops."""

    def __init__(
        self,
        center: Center,
        base_url: str,
        *,
        since: float,
        seed: int | None = None,
        ami_host: str = "127.0.0.1",
    ) -> None:
        self.center = center
        self.base_url = base_url
        self.since = since  # calls that began before this (the history) already have outcomes
        self.stats = RepStats()
        self._rng = random.Random(seed)
        self._ami_host = ami_host
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None
        self._phones: AmiClient | None = None
        self._orders_supported = False

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._orders_supported = await self._api_takes_orders()
        for rep in self.center.reps:
            rng = random.Random(self._rng.random())
            self._tasks.append(asyncio.create_task(self._desk(rep, rng), name=f"rep-{rep.exten}"))
        early = [r for r in self.center.reps if r.persona == "early_release"]
        if early:
            await self._start_phones(early)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._phones is not None:
            await self._phones.close()
        if self._http is not None:
            await self._http.close()

    # -- the desk --------------------------------------------------------------------------------

    async def _desk(self, rep: Rep, rng: random.Random) -> None:
        done: set[str] = set()
        headers = {"Authorization": f"Bearer {rep.token}"}
        await asyncio.sleep(rng.random() * POLL_SECONDS)  # reps do not all look at the same instant
        while True:
            try:
                await self._look(rep, rng, headers, done)
            except (aiohttp.ClientError, TimeoutError) as err:
                log.debug("rep_request_failed", rep=rep.name, error=str(err))
            await asyncio.sleep(POLL_SECONDS * (0.8 + 0.4 * rng.random()))

    async def _look(self, rep: Rep, rng: random.Random, headers: dict[str, str], done: set[str]) -> None:
        listed = await self._get(f"/api/v1/calls?since={self.since}&limit=20", headers)
        for item in (listed or {}).get("calls", []):
            call_id = item["call_id"]
            if call_id in done or item.get("outcome") != "answered" or item.get("agent") != rep.interface:
                continue
            if item.get("live") or item.get("final") is False:
                continue  # still going (or the customer is still on another leg)
            done.add(call_id)
            if item.get("disposition"):
                continue  # already has an outcome (posted from the phone)
            detail = await self._get(f"/api/v1/calls/{call_id}", headers)
            if detail is None:
                continue
            seen = await self._seen(detail, headers)
            decision = decide(rep.persona, rep.interface, seen, rng)
            await self._post(rep, call_id, decision, headers)

    async def _seen(self, detail: dict[str, Any], headers: dict[str, str]) -> CallSeen:
        previous = None
        original = detail.get("original")
        if detail.get("callback_of") and original:
            earlier = await self._get(f"/api/v1/calls/{original['call_id']}", headers)
            last = (earlier or {}).get("outcome_record") or {}
            previous = Previous(original.get("agent"), last.get("points"), _order(last.get("order")))
        return CallSeen(
            call_id=detail["call_id"],
            queue=detail.get("queue") or "",
            cut_off=bool(detail.get("cut_off", _any(detail, "cut_off"))),
            talk_seconds=float(detail.get("talk_seconds") or _sum(detail, "talk_seconds")),
            previous=previous,
        )

    async def _post(self, rep: Rep, call_id: str, d: Decision, headers: dict[str, str]) -> None:
        body: dict[str, Any] = {"disposition": d.disposition}
        if d.resolved is not None:
            body["resolved"] = d.resolved
        if d.notes is not None:
            body["notes"] = d.notes
        if d.points is not None:
            body["points"] = d.points
        if d.order is not None and self._orders_supported:
            body["order"] = {"ref": d.order.ref, "status": d.order.status}
            if d.order.left:
                body["order"]["left"] = d.order.left
        assert self._http is not None
        async with self._http.post(
            f"{self.base_url}/api/v1/calls/{call_id}/outcome", json=body, headers=headers
        ) as resp:
            if resp.status != 201:
                self.stats.refused += 1
                log.warning("rep_outcome_refused", rep=rep.name, status=resp.status, body=await resp.text())
                return
        s = self.stats
        s.posted += 1
        s.by_rep[rep.name] = s.by_rep.get(rep.name, 0) + 1
        if not d.notes or d.notes.strip().lower() in ("ok", "done"):
            s.without_notes += 1
        if d.disposition == "sale":
            s.sales += 1
        if d.order is not None and self._orders_supported:
            if d.order.status == "open":
                s.orders_opened += 1
            else:
                s.orders_closed += 1

    async def _get(self, path: str, headers: dict[str, str]) -> dict[str, Any] | None:
        assert self._http is not None
        async with self._http.get(self.base_url + path, headers=headers) as resp:
            if resp.status != 200:
                return None
            body: dict[str, Any] = await resp.json()
            return body

    async def _api_takes_orders(self) -> bool:
        """Whether this acd's outcome API knows orders (the API document says)."""
        try:
            doc = await self._get("/api/openapi.json", {})
        except (aiohttp.ClientError, TimeoutError):
            return False
        schemas = ((doc or {}).get("components") or {}).get("schemas") or {}
        outcome: dict[str, Any] = next((s for name, s in schemas.items() if "outcome" in name.lower()), {})
        return "order" in (outcome.get("properties") or {})

    # -- the phone -------------------------------------------------------------------------------

    async def _start_phones(self, reps: list[Rep]) -> None:
        from acd.settings import AmiSettings

        speed = self.center.speed
        habit = EarlyRelease({r.interface for r in reps}, random.Random(self._rng.random()))

        def on_message(headers: dict[str, str], _at: float) -> None:
            if (hang_up := habit.hang_up(headers)) is not None:
                channel, talk = hang_up
                task = asyncio.get_running_loop().create_task(self._hang_up(channel, talk / speed))
                self._tasks.append(task)

        settings = AmiSettings.model_validate(
            {
                "host": self._ami_host,
                "port": self.center.ami_port,
                "username": PHONES_USER,
                "secret": self.center.phones_secret,
                "reconnect_min": 0.2,
            }
        )
        self._phones = AmiClient(
            settings,
            on_message=on_message,
            on_state=self._phones_state,
            keep_events=frozenset({"AgentConnect"}),
        )
        await self._phones.start()

    def _phones_state(self, notice: ConnectionEvent) -> None:
        """What the phones' AMI session reports, logged once each: without this session the
        ``early_release`` reps never hang up early, and the demo's numbers say so only here."""
        if isinstance(notice, LoggedIn):
            self.stats.phone_sessions += 1
            log.debug("demo_phones_logged_in", user=PHONES_USER)
        elif isinstance(notice, AuthFailed):
            log.error("demo_phones_login_refused", user=PHONES_USER, message=notice.message)
        elif isinstance(notice, ConnectFailed):
            log.warning("demo_phones_unreachable", error=notice.error, attempt=notice.attempt)
        elif isinstance(notice, Disconnected) and notice.was_logged_in and notice.reason != "closed":
            log.warning("demo_phones_disconnected", reason=notice.reason)

    async def _hang_up(self, channel: str, after: float) -> None:
        await asyncio.sleep(after)
        if self._phones is None:
            return
        try:
            await self._phones.send_action({"Action": "Hangup", "Channel": channel, "Cause": "16"})
        except AmiError as err:  # the call ended meanwhile, or the session is down
            log.debug("demo_phones_hangup_failed", channel=channel, error=str(err))
            return
        self.stats.released_early += 1


def _order(raw: Any) -> Order | None:
    if not isinstance(raw, dict) or not raw.get("ref"):
        return None
    return Order(str(raw["ref"]), str(raw.get("status") or "open"), raw.get("left"))


def _any(detail: dict[str, Any], key: str) -> bool:
    return any(e.get(key) for e in detail.get("entries") or [])


def _sum(detail: dict[str, Any], key: str) -> float:
    return float(sum(e.get(key) or 0 for e in detail.get("entries") or []))
