"""The node's side of leadership (acd/ha/lease.py), on an injected clock: when it may act, when it
must step down, and that a stall closes the fence until a heartbeat confirms the lock again."""

from __future__ import annotations

from acd.ha.lease import Lease, LeaseTiming

TIMING = LeaseTiming(heartbeat=1.0, step_down_after=3.0, stall_after=2.0)


def test_a_standby_never_acts() -> None:
    lease = Lease(TIMING)
    assert lease.role == "standby" and not lease.may_act(0.0) and not lease.due(100.0)
    assert lease.age(5.0) is None


def test_a_leader_acts_while_its_heartbeats_are_confirmed() -> None:
    lease = Lease(TIMING)
    lease.won(7, now=10.0)
    assert lease.role == "leader" and lease.token == 7
    for t in (10.0, 11.0, 12.0, 13.0):
        lease.tick(t)
        assert lease.may_act(t)
        lease.confirmed(t)
    assert lease.age(13.5) == 0.5


def test_without_a_confirmed_heartbeat_the_fence_closes_at_the_bound_and_the_leader_is_due() -> None:
    lease = Lease(TIMING)
    lease.won(1, now=0.0)
    assert lease.may_act(3.0) and not lease.due(3.0)
    assert not lease.may_act(3.01) and lease.due(3.01)


def test_a_stall_closes_the_fence_before_any_heartbeat_runs_and_a_confirmation_reopens_it() -> None:
    lease = Lease(TIMING)
    lease.won(1, now=0.0)
    lease.tick(1.0)
    lease.confirmed(1.9)  # a slow heartbeat
    # The next turn comes 3.5 s after the last: the process was stopped. By the clock alone the
    # last confirmation (2.6 s ago) is within the bound; the stall closes the fence anyway.
    assert lease.tick(4.5) is True
    assert lease.stalled and not lease.may_act(4.5)
    lease.confirmed(4.6)
    assert lease.may_act(4.6)


def test_a_long_stall_leaves_a_leader_that_may_not_act_even_before_its_loop_notices() -> None:
    lease = Lease(TIMING)
    lease.won(1, now=0.0)
    lease.confirmed(1.0)
    # Resumed after 30 s: events are handled before the heartbeat task runs; the fence says no.
    assert not lease.may_act(31.0) and lease.due(31.0)


def test_losing_the_lock_forgets_the_token() -> None:
    lease = Lease(TIMING)
    lease.won(3, now=0.0)
    lease.lost()
    assert lease.role == "standby" and lease.token is None and not lease.may_act(0.0)
    lease.confirmed(1.0)  # a late confirmation changes nothing
    assert not lease.may_act(1.0)
