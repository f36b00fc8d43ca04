"""The leadership task: heartbeats every second, takes the lock when it may, steps down when it must.

One per daemon on PostgreSQL (:class:`Leadership`); with SQLite a node always leads alone
(:class:`SoleNode`). The daemon is told of every change of role through ``on_change`` (called on
the loop, synchronously, so that a step-down closes the routing listener and stops applying
events before anything else runs) and asks :meth:`may_act` before every AMI action.

A node takes the lock only while its AMI session is up: only the node whose Asterisk runs can
lead. A leader steps down

- when a heartbeat finds the lock gone or the token superseded (``lost_lock``),
- when no heartbeat succeeded for ``step_down_after`` (``heartbeat_late``; the session is then
  dropped, which frees the lock on the server),
- when its AMI has been down for ``ami_lost_after`` (``ami_lost``; released cleanly, so a node
  whose Asterisk runs can lead),
- when it stops (``stopping``; released cleanly).

After a stall (the loop turned late) it acts on nothing until a heartbeat has confirmed the lock.

Whether another node leads is learned only from a lock attempt on a working session: the first
attempt that finds the lock held after a start or a step-down is reported as ``other_leads``.
Until then (and while the database is away) the daemon decides what to do with events itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from acd.ha.lease import Lease, LeaseTiming, Role
from acd.ha.postgres import KPI_KEY, LeaseConnection, LockNotPermitted, Takeover

__all__ = ["Change", "Leadership", "SoleNode"]

log = structlog.get_logger("acd.ha")

RECONNECT_LOG_EVERY = 30.0


@dataclass(frozen=True, slots=True)
class Change:
    """A change of role: ``reason`` says why (won, takeover, lost_lock, heartbeat_late, ami_lost,
    connection_lost, stopping, other_leads).

    ``other_leads`` is no change of the lease: a node that did not know whether another node
    leads (it had just started, or had lost its database session while leading) tried the lock and
    found it held elsewhere. The daemon stops recording then: the leader records that stream."""

    role: Role
    token: int | None
    reason: str
    takeover: Takeover | None = None
    stalled: bool = False  # the leader had been stalled (its loop turned late) when it stepped down


class SoleNode:
    """SQLite: one node, always the leader, token 0 (the journal's directory lock keeps a second
    process out)."""

    role: Role = "leader"
    token: int | None = 0
    kpi_held = True
    takeovers = 0
    stalls = 0
    fenced = 0

    def may_act(self) -> bool:
        return True

    def heartbeat_age(self) -> float | None:
        return 0.0

    def stepdowns(self) -> dict[str, int]:
        return {}

    def poke(self) -> None:
        return None


class Leadership:
    def __init__(
        self,
        conn: LeaseConnection,
        timing: LeaseTiming,
        *,
        ami_ok: Callable[[], bool],
        ami_lost_after: float,
        covered: Callable[[], float | None],
        history_lag: Callable[[], float | None],
        on_change: Callable[[Change], None],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.conn = conn
        self.lease = Lease(timing)
        self.timing = timing
        self.ami_ok = ami_ok
        self.ami_lost_after = ami_lost_after
        self.covered = covered
        self.history_lag = history_lag
        self.on_change = on_change
        self.clock = clock
        self._sleep = sleep
        self.started_at = wall()
        self.kpi_held = False
        self.takeovers = 0  # leaderships this node took from a node that had not released
        self.stalls = 0
        self.failures = 0  # failed heartbeats or lock attempts
        self._stepdowns: dict[str, int] = {}
        self._told_other_leads = False  # other_leads was reported since the last start or step-down
        self._ami_down_since: float | None = None
        self._poked = asyncio.Event()
        self._stopping = False
        self._turning = asyncio.Lock()  # stop() waits for the turn in progress
        self._last_connect_log = -RECONNECT_LOG_EVERY

    # -- what the daemon asks ----------------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self.lease.role

    @property
    def token(self) -> int | None:
        return self.lease.token

    def may_act(self) -> bool:
        """The fence, read at the moment of acting."""
        return self.lease.may_act(self.clock())

    def heartbeat_age(self) -> float | None:
        return self.lease.age(self.clock())

    def stepdowns(self) -> dict[str, int]:
        return dict(self._stepdowns)

    def poke(self) -> None:
        """Look again now (AMI just logged in: a standby may take the lock at once)."""
        self._poked.set()

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the session and check the role's rights: :class:`LockNotPermitted` stops the daemon
        at start with one line; a database that cannot be reached raises as for the writer's."""
        await self.conn.connect()
        other = await self.conn.other_instance()
        if other is not None:
            # A row another process wrote: its heartbeat moves on if that process runs (a crashed
            # predecessor's row stays still).
            await self._sleep(self.timing.heartbeat * 1.5)
            again = await self.conn.other_instance()
            if again is not None and again[0] == other[0] and again[1] > other[1]:
                log.error(
                    "ha_node_name_taken",
                    node=self.conn.info.node,
                    server=self.conn.info.server_id,
                    fix="give each node of a server its own ACD_HA__NODE",
                )

    async def run(self) -> None:
        while not self._stopping:
            now = self.clock()
            if self.lease.tick(now):
                self.stalls += 1
                log.warning("ha_resumed_after_stall", role=self.lease.role, heartbeat_age=self.lease.age(now))
            async with self._turning:
                if not self._stopping:  # stop() may have run while this turn waited
                    await self.turn()
            self._poked.clear()
            waiter = asyncio.ensure_future(self._poked.wait())
            sleeper = asyncio.ensure_future(self._sleep(self.timing.heartbeat))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                sleeper.cancel()

    async def stop(self) -> None:
        """Release cleanly (the next leader's start is no takeover) and say so in ``nodes``."""
        self._stopping = True
        self._poked.set()
        async with self._turning:
            await self._release()

    async def _release(self) -> None:
        token = self.lease.token if self.lease.role == "leader" else None
        if token is not None:
            self._step_down("stopping")
        if self.conn.connected:
            with contextlib.suppress(Exception):
                await self.conn.release(token, self.covered(), kpi=self.kpi_held)
            with contextlib.suppress(Exception):
                await self.conn.stopped()
        self.kpi_held = False
        self.conn.close()

    # -- one turn ----------------------------------------------------------------------------------

    async def turn(self) -> None:
        """One heartbeat (public for tests that drive the clock)."""
        now = self.clock()
        ami = self.ami_ok()
        if ami:
            self._ami_down_since = None
        elif self._ami_down_since is None:
            self._ami_down_since = now
        if not self.conn.connected:
            if self.lease.role == "leader":
                self._step_down("connection_lost")
            if not await self._reconnect():
                return
        if self.lease.role == "leader":
            await self._lead_turn(now)
        else:
            await self._standby_turn(ami)

    async def _reconnect(self) -> bool:
        try:
            await self.conn.connect()
        except LockNotPermitted as exc:
            log.error("ha_lock_not_permitted", error=str(exc))
            return False
        except Exception as exc:
            self.failures += 1
            now = self.clock()
            if now - self._last_connect_log >= RECONNECT_LOG_EVERY:
                self._last_connect_log = now
                log.warning("ha_database_unreachable", error=_short(exc), role=self.lease.role)
            return False
        log.info("ha_session_open", server=self.conn.info.server_id, node=self.conn.info.node)
        return True

    async def _lead_turn(self, now: float) -> None:
        down = self._ami_down_since
        if down is not None and now - down > self.ami_lost_after:
            token = self.lease.token
            self._step_down("ami_lost")
            try:
                await self.conn.release(token, self.covered(), kpi=self.kpi_held)
                self.kpi_held = False
            except Exception:
                self.conn.close()  # the session's end frees the locks anyway
                self.kpi_held = False
            return
        # Bounded by the time left before the step-down bound: a hung heartbeat (a partition) ends
        # the leadership at 3 s, not at 3 s plus the last attempt's timeout.
        age = self.lease.age(now) or 0.0
        bound = max(0.05, min(self.conn.op_timeout, self.timing.step_down_after - age + 0.01))
        try:
            async with asyncio.timeout(bound):
                confirmed, kpi = await self._heartbeat(ami=down is None)
        except Exception as exc:
            self.failures += 1
            if not self.conn.connected:  # the session is gone, and the lock with it
                log.warning("ha_heartbeat_failed", error=_short(exc))
                self._step_down("connection_lost")
                self.kpi_held = False
            elif self.lease.due(self.clock()):
                log.warning("ha_heartbeat_failed", error=_short(exc))
                self._step_down("heartbeat_late")
                self.conn.close()
                self.kpi_held = False
            return
        if not confirmed:
            self._step_down("lost_lock")
            self.conn.close()  # whatever this session still holds goes with it
            self.kpi_held = False
            return
        self.lease.confirmed(self.clock())
        self.kpi_held = kpi
        if not kpi:
            with contextlib.suppress(Exception):
                self.kpi_held = await self.conn.try_lock(KPI_KEY)

    async def _standby_turn(self, ami: bool) -> None:
        try:
            got = ami and await self.conn.try_lock()
            if ami and not got and not self._told_other_leads:
                self._told_other_leads = True
                self.on_change(Change("standby", None, "other_leads"))
            if got:
                takeover = await self.conn.take()
                self.lease.won(takeover.token, self.clock())
                self._told_other_leads = False
                if takeover.previous is not None:
                    self.takeovers += 1
                log.info(
                    "ha_leading",
                    fence=takeover.token,
                    took_over_from=takeover.previous,
                    previous_heartbeat_age=_round(takeover.previous_heartbeat_age),
                    covered_until=takeover.covered_until,
                )
                self.on_change(
                    Change("leader", takeover.token, "takeover" if takeover.previous else "won", takeover)
                )
                with contextlib.suppress(Exception):
                    self.kpi_held = await self.conn.try_lock(KPI_KEY)
                return
            await self._heartbeat(ami=ami)
        except LockNotPermitted as exc:
            log.error("ha_lock_not_permitted", error=str(exc))
        except Exception as exc:
            self.failures += 1
            if self.lease.role == "leader":  # took the lock, then failed: drop it all
                self._step_down("connection_lost")
            self.conn.close()
            log.debug("ha_standby_turn_failed", error=_short(exc))

    async def _heartbeat(self, *, ami: bool) -> tuple[bool, bool]:
        return await self.conn.heartbeat(
            role=self.lease.role,
            token=self.lease.token,
            covered_until=self.covered() if self.lease.role == "leader" else None,
            ami_connected=ami,
            kpi=self.kpi_held,
            history_lag=self.history_lag(),
            started_at=self.started_at,
        )

    def _step_down(self, reason: str) -> None:
        if self.lease.role != "leader":
            return
        token = self.lease.token
        stalled = self.lease.stalled
        self.lease.lost()
        self._told_other_leads = False
        self._stepdowns[reason] = self._stepdowns.get(reason, 0) + 1
        (log.info if reason == "stopping" else log.warning)("ha_standby", reason=reason, fence=token)
        self.on_change(Change("standby", None, reason, stalled=stalled))


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 200 else text[:197] + "..."


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
