"""The simulator's call states: the moves are one table, and a move it does not hold raises
instead of leaving the call in a state no function expects."""

from __future__ import annotations

from typing import get_args

import pytest

from acd.sim.call_states import QUEUED, TRANSITIONS, CallState, IllegalCallMove, allowed
from acd.sim.entities import Call, CallScript


def _call() -> Call:
    return Call("5551234", "Customer", "Local/a;1", "Local/a;2", "1.1", "1.2", 0.0, CallScript())


def test_the_table_has_a_row_per_state() -> None:
    assert set(TRANSITIONS) == set(get_args(CallState))
    assert set(TRANSITIONS) >= QUEUED
    assert not allowed("transferred", "bridged"), "a transferred caller never returns to the member"
    assert not allowed("new", "bridged") and not allowed("waiting", "bridged"), "a member is rung first"
    assert allowed("done", "waiting"), "a redirect into another queue starts a new entry"


def test_a_call_walks_the_table_and_an_illegal_move_raises_and_changes_nothing() -> None:
    call = _call()
    assert call.state == "new"
    walk: tuple[CallState, ...] = ("waiting", "ringing", "bridged", "consulting", "transferred", "done")
    for state in walk:
        call.move(state)
        assert call.state == state
    with pytest.raises(IllegalCallMove, match=r"Local/a;1: done -> bridged"):
        call.move("bridged")
    assert call.state == "done"
