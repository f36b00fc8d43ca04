"""The simulator writes queue_log as Asterisk does: the captured scenarios, run through the
simulator, leave the same lines as the real Asterisk's queue_log beside each capture (events, agent
field, data; uniqueids and bridge ids compared by position, times and durations within the
scenarios' timing slack).

The lines are compared as text split on '|', never through acd's parser, so the simulator is
checked against Asterisk, not against acd's reading of it.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.sim_helpers import FIXTURES
from tests.test_sim_conformance import SCENARIOS, Run, _session

CASES = {
    "answered_call": "answered_call",
    "agent_hangup_cutoff": "agent_hangup_cutoff",
    "caller_dropped": "caller_dropped",
    "abandon": "abandon",
    "ring_no_answer": "ring_no_answer",
    "asterisk_restart": "asterisk_restart",
    "redirect_withdraw": "redirect_to_agent",
}
_UID = re.compile(r"^\d{9,}\.\d+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def call_lines(text: str) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) >= 5 and parts[1] not in ("NONE", "MANAGER"):
            out.append(parts)
    return out


def normalise(lines: list[list[str]]) -> list[tuple[str, ...]]:
    """Uniqueids and bridge ids become their order of appearance; times become offsets from the
    entry's ENTERQUEUE."""
    ids: dict[str, str] = {}
    entered: dict[str, int] = {}
    out = []
    for ts, callid, queue, agent, event, *data in lines:
        at = int(ts)
        if event == "ENTERQUEUE":
            entered[callid] = at
        fields = [ids.setdefault(callid, f"uid{len(ids)}"), queue, agent, event]
        for d in data:
            if _UID.match(d) or _UUID.match(d):
                d = ids.setdefault(d, f"uid{len(ids)}")
            fields.append(d)
        out.append((str(at - entered.get(callid, at)), *fields))
    return out


def close(a: str, b: str) -> bool:
    """Equal text, or numbers within the scenario's timing slack: the scenarios replay the lab's
    steps with their own pauses (one waits 4 s longer for the second agent), so a duration may
    differ by a few seconds (or thousands of milliseconds) while the shape is Asterisk's."""
    if a == b:
        return True
    try:
        x, y = int(a), int(b)
    except ValueError:
        return False
    return abs(x - y) <= (5000 if max(x, y) >= 1000 else 5)


async def run_with_queue_log(tmp_path: Path, scenario: Callable[[Run], Awaitable[None]]) -> str:
    path = tmp_path / "queue_log"
    await _session(scenario, queue_log=path)
    return path.read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_call_lines_match_the_real_queue_log(tmp_path: Path, name: str) -> None:
    sim = normalise(call_lines(asyncio.run(run_with_queue_log(tmp_path, SCENARIOS[name]))))
    real = normalise(call_lines((FIXTURES / f"{CASES[name]}.queue_log").read_text()))
    assert len(sim) == len(real), "\n".join(map(str, sim)) + "\n--- real:\n" + "\n".join(map(str, real))
    for got, want in zip(sim, real, strict=True):
        assert got[1:5] == want[1:5], (got, want)  # who, queue, agent field, event
        assert len(got) == len(want) and all(close(g, w) for g, w in zip(got, want, strict=True)), (got, want)


def test_transfers_are_logged_as_asterisk_logs_them(tmp_path: Path) -> None:
    """Blind and attended transfers (the capture's 8a and 8c; 8b is a Redirect, not a transfer)."""
    text = asyncio.run(run_with_queue_log(tmp_path, SCENARIOS["transfer"]))
    # (event, number of data fields): who answered depends on the queue's strategy, not the format
    events = [(p[4], len(p) - 5) for p in call_lines(text)]
    real = [(p[4], len(p) - 5) for p in call_lines((FIXTURES / "transfer.queue_log").read_text())]
    transfers = {"BLINDTRANSFER", "ATTENDEDTRANSFER"}
    assert [e for e in events if e[0] in transfers] == [e for e in real if e[0] in transfers]
    blind = next(p for p in call_lines(text) if p[4] == "BLINDTRANSFER")
    assert blind[5:7] == ["1003", "xfer"]


def test_member_lines_and_restart_marker(tmp_path: Path) -> None:
    text = asyncio.run(run_with_queue_log(tmp_path, SCENARIOS["agents_login"]))
    lines = [line.split("|") for line in text.splitlines()]
    assert lines[0][1:5] == ["NONE", "NONE", "NONE", "QUEUESTART"]
    kinds = {(p[1], p[4]) for p in lines}
    assert {("MANAGER", "ADDMEMBER"), ("MANAGER", "REMOVEMEMBER"), ("NONE", "PAUSE")} <= kinds
    assert ("NONE", "PAUSEALL") in kinds and ("NONE", "UNPAUSEALL") in kinds
    add = next(p for p in lines if p[4] == "ADDMEMBER")
    assert add[3].startswith("Local/")  # the interface for ADDMEMBER...
    pause = next(p for p in lines if p[4] == "PAUSE")
    assert not pause[3].startswith("Local/")  # ...the member's name for PAUSE
    restart = asyncio.run(run_with_queue_log(tmp_path / "r", SCENARIOS["asterisk_restart"]))
    assert sum(1 for line in restart.splitlines() if "|QUEUESTART|" in line) == 2


def test_rotation_moves_the_file_aside_and_compresses_older_copies(tmp_path: Path) -> None:
    from acd.sim.queue_log import QueueLogFile

    log = QueueLogFile(tmp_path / "queue_log")
    log.write(1, "a.1", "q", "NONE", "ENTERQUEUE", "", "555", 1)
    log.rotate()
    log.write(2, "b.1", "q", "NONE", "ENTERQUEUE", "", "556", 1)
    log.rotate()
    log.write(3, "c.1", "q", "NONE", "ENTERQUEUE", "", "557", 1)
    log.close()
    assert (tmp_path / "queue_log").read_text().startswith("3|c.1")
    assert (tmp_path / "queue_log.1").read_text().startswith("2|b.1")
    assert gzip.decompress((tmp_path / "queue_log.2.gz").read_bytes()).decode().startswith("1|a.1")
