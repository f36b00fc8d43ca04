"""The replay tests' "gap" variant: each real capture with a stretch of its AMI stream cut out (acd
blind: it sees Asterisk again only through a resync and Asterisk's queue_log) gives the same queue,
agent, outcome, wait and talk (within 1 s) as the whole capture for every call its queue_log
describes; what queue_log cannot tell is marked unknown in the record, never guessed.

The resync's answer at the end of the cut is what Asterisk would have said then, followed from the
capture's own events (tests/support/snapshot.py); queue_log is read up to that moment only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.ami.codec import Framer
from acd.capture.replay import SETTLE_SECONDS
from acd.core.callcenter import Core
from acd.core.effects import CallFinished, CallRecord
from acd.core.gapfill import GapFill
from acd.core.queuelog import read_facts
from tests.queue_log import parse_queue_log
from tests.support.snapshot import AsteriskState

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
LAB_QUEUE_LOG = FIXTURES / "queue_log"  # the lab's whole queue_log: its QUEUESTART lines
# Captures with their arrival timing (aux/<name>.timing.tsv): real time for every event, so the gap
# is a stretch of real time, as queue_log's lines are dated.
PAIRS = sorted(
    (ql.with_name(ql.name.replace(".queue_log", ".ami.log")), ql)
    for ql in FIXTURES.glob("*.queue_log")
    if (FIXTURES / "aux" / ql.name.replace(".queue_log", ".timing.tsv")).exists()
)
CUTS = [(0.2, 0.5), (0.4, 0.8), (0.55, 0.95), (0.1, 0.9)]


def timed_events(capture: Path, queue_log: Path) -> list[tuple[dict[str, str], float]]:
    """The capture's events, each at the time its bytes arrived, on queue_log's clock: the offset
    is the one every ENTERQUEUE agrees with (queue_log floors to the second)."""
    raw = capture.read_bytes()
    timing = (FIXTURES / "aux" / capture.name.replace(".ami.log", ".timing.tsv")).read_text().splitlines()[1:]
    framer = Framer()
    events: list[tuple[dict[str, str], float]] = []
    for row in timing:
        rel, offset, length = row.split("\t")
        for m in framer.feed(raw[int(offset) : int(offset) + int(length)]):
            if "Event" in m:
                events.append((m, float(rel)))
    lo, hi = float("-inf"), float("inf")
    for line in queue_log.read_text().splitlines():
        at, callid, _queue, _agent, verb, *_ = line.split("|")
        if verb != "ENTERQUEUE":
            continue
        rel = next(
            t for m, t in events if m.get("Event") == "QueueCallerJoin" and m.get("Uniqueid") == callid
        )
        lo, hi = max(lo, int(at) - rel), min(hi, int(at) + 1 - rel)
    assert lo <= hi, "the capture's timing disagrees with its queue_log"
    offset = (lo + hi) / 2
    return [(m, rel + offset) for m, rel in events]


def _shutdown_begins(events: list[tuple[dict[str, str], float]]) -> bool:
    return any(m.get("Event") == "SoftHangupRequest" and m.get("Cause") == "4" for m, _ in events)


def replay_with_gap(capture: Path, queue_log: Path, cut: tuple[float, float]) -> list[CallRecord]:
    timed = timed_events(capture, queue_log)
    first, second = int(len(timed) * cut[0]), int(len(timed) * cut[1])
    core = Core()
    core.gapfill = GapFill(lookback=3600.0)
    state = AsteriskState()
    out: list[object] = []
    for m, t in timed[:first]:
        out += core.apply(m, t)
        state.feed(m, t)
    core.disconnected(timed[first][1])
    lines = queue_log.read_text().splitlines()
    if _shutdown_begins(timed[first:]):
        # Asterisk shut down while acd was blind: this connection ends with it, and the resync
        # comes after the restart (the lab's queue_log has its QUEUESTART), with no call left.
        restart = next(
            int(line.split("|")[0])
            for line in LAB_QUEUE_LOG.read_text().splitlines()
            if "|QUEUESTART|" in line and int(line.split("|")[0]) >= timed[first][1]
        )
        back = restart + 2.0
        state.channels.clear()
        state.waiting.clear()
        lines.append(f"{restart}|NONE|NONE|NONE|QUEUESTART|")
        after: list[tuple[dict[str, str], float]] = []
    else:
        for m, t in timed[first:second]:  # Asterisk goes on; acd sees none of it
            state.feed(m, t)
        back = timed[second][1]
        after = timed[second:]
    core.begin_resync(back)
    for m in state.snapshot(back):
        out += core.apply(m, back)
    seen = [line for line in lines if int(line.split("|")[0]) <= back]
    out += core.fill_gap(read_facts(seen), back)
    for m, t in after:
        out += core.apply(m, t)
    out += core.tick(max(back, timed[-1][1]) + SETTLE_SECONDS)
    return [e.record for e in out if isinstance(e, CallFinished)]


def whole_replay(capture: Path, queue_log: Path) -> list[CallRecord]:
    core = Core()
    out: list[object] = []
    timed = timed_events(capture, queue_log)
    for m, t in timed:
        out += core.apply(m, t)
    out += core.tick(timed[-1][1] + SETTLE_SECONDS)
    return [e.record for e in out if isinstance(e, CallFinished)]


@pytest.mark.parametrize("cut", CUTS, ids=lambda c: f"blind-{c[0]:.2f}-{c[1]:.2f}")
@pytest.mark.parametrize(("capture", "queue_log"), PAIRS, ids=lambda p: p.name)
def test_a_gap_filled_from_queue_log_agrees_with_the_whole_capture(
    capture: Path, queue_log: Path, cut: tuple[float, float]
) -> None:
    whole = whole_replay(capture, queue_log)
    gapped = replay_with_gap(capture, queue_log, cut)
    keys = [(r.uniqueid, r.entry) for r in gapped]
    assert len(keys) == len(set(keys)), "a call stored twice"
    by_key = {(r.uniqueid, r.entry): r for r in gapped}
    for entry in parse_queue_log(queue_log):
        want = next(r for r in whole if r.uniqueid == entry.callid and r.queue == entry.queue)
        got = by_key.get((want.uniqueid, want.entry))
        assert got is not None, f"{entry.callid} lost in the gap"
        unknown = set(got.unknown)
        assert got.queue == want.queue
        for name in ("outcome", "agent_name", "ended_by", "cut_off"):
            if name not in unknown and not (name == "agent_name" and "agent" in unknown):
                assert getattr(got, name) == getattr(want, name), (name, got, want)
        for name in ("wait_seconds", "talk_seconds"):
            assert abs(getattr(got, name) - getattr(want, name)) <= 1.0, (name, got, want)
        if got.source == "queue_log" and got.outcome == "answered":
            assert {"cause", "cut_off"} <= unknown | set(got.inferred), got


def test_the_gaps_do_cut_calls() -> None:
    """The cuts are not idle stretches: across the captures, calls end, start and are answered
    while acd is blind, so every kind of merge is exercised."""
    sources: dict[str, int] = {}
    for capture, queue_log in PAIRS:
        for cut in CUTS:
            for r in replay_with_gap(capture, queue_log, cut):
                sources[r.source] = sources.get(r.source, 0) + 1
    assert sources.get("queue_log", 0) >= 10 and sources.get("merged", 0) >= 10, sources
