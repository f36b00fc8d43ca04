"""What one node believes about its leadership, and whether it may act now. Pure: no I/O, no clock.

PostgreSQL decides who leads (a session advisory lock, acd/ha/postgres.py); this is the node's side
of it, fed by the leadership task with a monotonic clock:

- :meth:`Lease.won` once the lock is taken and the fencing token issued;
- :meth:`Lease.confirmed` after every heartbeat that proved the lock is still held;
- :meth:`Lease.tick` on every turn of the heartbeat loop: a turn that comes much later than
  the one before means the process was stalled (SIGSTOP, a paused VM, a swap storm); until a
  heartbeat confirms the lock again the node may not act;
- :meth:`Lease.due` tells the loop to step down: no confirmation for ``step_down_after``.

:meth:`Lease.may_act` is the fence every AMI action, routing answer and fenced write asks, at the
moment it happens, with the clock read then: a leader that resumes from a 30 s stall and finds
events waiting refuses to act on them before any heartbeat has run, because its last confirmation
is 30 s old. The step-down bound (3 s) is shorter than the leadership connection's
``idle_session_timeout`` (5 s), after which PostgreSQL ends a silent leader's session and frees
the lock for the standby: a leader stops acting before another can start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Lease", "LeaseTiming", "Role"]

Role = Literal["standby", "leader"]


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    heartbeat: float = 1.0  # seconds between heartbeats (and lock attempts on a standby)
    step_down_after: float = 3.0  # a leader without a confirmed heartbeat this long steps down
    stall_after: float = 2.0  # a loop turn this much later than the previous: the process stalled


class Lease:
    def __init__(self, timing: LeaseTiming | None = None) -> None:
        self.timing = timing or LeaseTiming()
        self.role: Role = "standby"
        self.token: int | None = None
        self.last_ok: float | None = None  # when a heartbeat last confirmed the lock (monotonic)
        self.stalled = False
        self._last_tick: float | None = None

    def won(self, token: int, now: float) -> None:
        """The lock is ours and ``token`` is this leadership's fencing token."""
        self.role = "leader"
        self.token = token
        self.last_ok = now
        self.stalled = False

    def confirmed(self, now: float) -> None:
        """A heartbeat proved the lock is still held (on the same session, with our token)."""
        if self.role == "leader":
            self.last_ok = now
            self.stalled = False

    def lost(self) -> None:
        """Not the leader (any more): the lock is gone, released, or was never ours."""
        self.role = "standby"
        self.token = None
        self.last_ok = None
        self.stalled = False

    def tick(self, now: float) -> bool:
        """One turn of the heartbeat loop; True when it shows the process was stalled."""
        last, self._last_tick = self._last_tick, now
        if last is not None and now - last > self.timing.heartbeat + self.timing.stall_after:
            if self.role == "leader":
                self.stalled = True
            return True
        return False

    def due(self, now: float) -> bool:
        """A leader whose last confirmation is older than the step-down bound must step down."""
        last = self.last_ok
        return self.role == "leader" and (last is None or now - last > self.timing.step_down_after)

    def may_act(self, now: float) -> bool:
        """The fence: leader, not stalled, confirmed within the step-down bound, at ``now``."""
        last = self.last_ok
        return (
            self.role == "leader"
            and not self.stalled
            and last is not None
            and now - last <= self.timing.step_down_after
        )

    def age(self, now: float) -> float | None:
        """Seconds since the last confirmation (None: not the leader)."""
        return None if self.last_ok is None else max(0.0, now - self.last_ok)
