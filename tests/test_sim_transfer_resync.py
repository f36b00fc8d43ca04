"""Where the simulator says a transferred caller is, against the capture, and what a resync then
adopts.

After a blind transfer the caller has left Queue() and runs the target's extension (``Dial`` in
the ``xfer`` context), bridged to the target; after an attended transfer it stays in the Queue()
it was answered in, bridged to the consultation's channel (docs/asterisk.md, "An attended
transfer leaves the caller in Queue()"). A resync reads this from ``CoreShowChannels`` (and finds
no ``QueueEntry``), so the simulator's answers must say what Asterisk's would.

The capture (transfer.ami.log, 8a and 8c) has no snapshot taken while a transferred caller was
up, so its shape is folded from its events: each channel's last ``Newexten`` (application and
data), its last context, extension and priority, and the bridge it last entered, up to the
caller's hang-up. The simulator runs the capture's script and answers ``CoreShowChannels`` and
``QueueStatus`` at that moment; its items must match channel by channel (names without their
per-run counters), and the channels must share bridges as in the capture.

Then acd's core, fed the simulator's stream, resyncs after each kind of transfer (as a takeover
does, and after an AMI gap): the call it recorded at the transfer is never adopted again (no
``#2``), and it stays one record once the caller hangs up.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from acd.core.callcenter import Core
from acd.core.effects import CallFinished, CallRecord, Effect
from tests.sim_helpers import Pairs, answered, get, is_event, linkedid_of, read_capture
from tests.test_sim_conformance import Run, _agents, _originate, _session

CAPTURE = Path(__file__).parent / "fixtures" / "ami" / "transfer.ami.log"
_COUNTER = re.compile(r"-[0-9a-f]{8};")
FIELDS = ("Context", "Exten", "Priority", "Application", "ApplicationData")
Where = dict[str, dict[str, str]]  # channel name without its counter -> its fields and bridge


def _name(channel: str) -> str:
    return _COUNTER.sub(";", channel)


def capture_shape(number: str) -> Where:
    """Where each live channel of caller ``number``'s call was in the capture just before the
    caller hung up after the transfer."""
    msgs = read_capture(CAPTURE)
    linkedid = linkedid_of(msgs, number)
    where: Where = {}
    gone: set[str] = set()  # Asterisk still names a channel in an event or two after its Hangup
    transferred = False
    for p in msgs:
        if not is_event(p):
            continue
        event, channel = get(p, "Event"), get(p, "Channel")
        if event in ("BlindTransfer", "AttendedTransfer") and linkedid in {v for _, v in p}:
            transferred = True
        if transferred and event in ("HangupRequest", "SoftHangupRequest") and f"Local/{number}@" in channel:
            break  # the caller hangs up: the snapshot is taken before this
        if event == "Hangup":
            where.pop(channel, None)
            gone.add(channel)
        elif channel and channel not in gone and get(p, "Linkedid") == linkedid:
            w = where.setdefault(channel, {})
            w.update(Context=get(p, "Context"), Exten=get(p, "Exten"), Priority=get(p, "Priority"))
            if event == "Newexten":
                w.update(Application=get(p, "Application"), ApplicationData=get(p, "AppData"))
            elif event == "BridgeEnter":
                w["Bridge"] = get(p, "BridgeUniqueid")
            elif event == "BridgeLeave":
                w["Bridge"] = ""
    assert transferred, f"the capture shows no transfer of {number}"
    return {_name(channel): w for channel, w in where.items()}


def bridged_together(where: Where) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for name, w in where.items():
        if w.get("Bridge"):
            groups.setdefault(w["Bridge"], set()).add(name)
    return {frozenset(g) for g in groups.values()}


async def blind(run: Run) -> None:
    """8a: Alice blind-transfers the caller to 1003, whose phone answers."""
    await run.cli.action("BlindTransfer", Channel=run.agent_chan("5558001"), Context="xfer", Exten="1003")
    await run.step(5.0)


async def attended(run: Run) -> None:
    """8c: Alice consults 1003, then her phone hangs up to complete the transfer."""
    agent = run.agent_chan("5558003")
    await run.cli.action("Atxfer", Channel=agent, Context="xfer", Exten="1003")
    await run.step(5.0)
    await run.cli.action("Hangup", Channel=agent.replace(";1", ";2"), Cause=16)
    await run.step(4.0)


async def simulated_snapshot(number: str, transfer: Callable[[Run], Awaitable[None]]) -> list[Pairs]:
    """The simulator runs the capture's script for ``number`` and answers a resync's two actions
    after the transfer, while the caller is still up."""
    answers: list[Pairs] = []

    async def body(run: Run) -> None:
        await run.cli.login()
        await _agents(run, who=(("1001", "Alice"), ("1002", "Bob")))
        await _originate(run, number)
        await run.step(5.0)
        await transfer(run)
        seen = len(run.cli.messages)
        await answered(run.cli, "QueueStatus", "QueueStatusComplete")
        await answered(run.cli, "CoreShowChannels", "CoreShowChannelsComplete")
        answers.extend(run.cli.messages[seen:])

    await _session(body)
    return answers


@pytest.mark.parametrize(
    ("number", "transfer", "caller_app"),
    [("5558001", blind, "Dial"), ("5558003", attended, "Queue")],
    ids=["blind", "attended"],
)
async def test_a_transferred_caller_is_where_the_capture_shows_it(
    number: str, transfer: Callable[[Run], Awaitable[None]], caller_app: str
) -> None:
    want = capture_shape(number)
    caller = f"Local/{number}@caller-sim;1"
    assert want[caller]["Application"] == caller_app  # the capture's own word, before the comparison
    answers = await simulated_snapshot(number, transfer)
    assert [p for p in answers if get(p, "Event") == "QueueEntry"] == []  # it left the queue at the answer
    got: Where = {}
    for p in answers:
        if is_event(p) and get(p, "Event") == "CoreShowChannel":
            got[_name(get(p, "Channel"))] = {k: get(p, k) for k in FIELDS} | {"Bridge": get(p, "BridgeId")}
    assert set(got) == set(want)
    for name, w in want.items():
        for key in FIELDS:
            if key in w:  # a channel that ran no dialplan in the capture shows no Newexten
                assert got[name][key] == w[key], (name, key)
    assert bridged_together(got) == bridged_together(want)


class Fed:
    """acd's core fed the simulator's stream, every message at the simulator's time."""

    def __init__(self, run: Run) -> None:
        self.run, self.core = run, Core()
        self.records: list[CallRecord] = []
        self.fed = 0

    def __call__(self, effects: list[Effect] | None = None) -> None:
        now = self.run.sim.sched.now
        for message in self.run.cli.messages[self.fed :]:
            self._keep(self.core.apply(dict(message), now))
        self.fed = len(self.run.cli.messages)
        self._keep(effects or [])

    def _keep(self, effects: list[Effect]) -> None:
        self.records.extend(e.record for e in effects if isinstance(e, CallFinished))

    async def resync(self) -> None:
        self.core.begin_resync(self.run.sim.sched.now)
        await answered(self.run.cli, "QueueStatus", "QueueStatusComplete")
        await answered(self.run.cli, "CoreShowChannels", "CoreShowChannelsComplete")
        self(self.core.end_resync(self.run.sim.sched.now))


@pytest.mark.parametrize("gap", [False, True], ids=["resync", "after_a_gap"])
@pytest.mark.parametrize(
    ("number", "transfer"), [("5558001", blind), ("5558003", attended)], ids=["blind", "attended"]
)
async def test_a_resync_after_a_transfer_adopts_nothing_twice(
    number: str, transfer: Callable[[Run], Awaitable[None]], gap: bool
) -> None:
    fed: list[Fed] = []

    async def body(run: Run) -> None:
        feed = Fed(run)
        fed.append(feed)
        await run.cli.login()
        await feed.resync()
        await _agents(run, who=(("1001", "Alice"), ("1002", "Bob")))
        await _originate(run, number)
        await run.step(5.0)
        await transfer(run)
        feed()
        (record,) = feed.records
        assert record.ended_by == "transfer"
        if gap:  # the link drops after the transfer; what Asterisk says meanwhile is lost
            feed.core.disconnected(run.sim.sched.now)
            await run.step(1.0)
            feed.fed = len(run.cli.messages)
        await feed.resync()
        assert feed.core.registry.entries == {}  # nothing adopted: the caller's entry is recorded
        await run.cli.action("Hangup", Channel=run.chan(f"Local/{number}@", ";2"), Cause=16)
        await run.step(10.0)
        feed()
        await run.step(600.0)
        feed(feed.core.tick(run.sim.sched.now))

    await _session(body)
    (feed,) = fed
    assert [r.id for r in feed.records] == [feed.records[0].id]
    assert not any("#" in r.id for r in feed.records)
