"""The simulator's records: queues, members, devices, channels, calls and their scripts.

Plain data; the rules that move them work on :class:`acd.sim.pbx.Pbx`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acd.sim.call_states import CallState, IllegalCallMove, allowed
from acd.sim.clock import Timer
from acd.sim.config import QueueConf

FOREVER = 10.0**9  # a wait or a talk with no end (seconds)


@dataclass
class AgentBehaviour:
    """How a simulated agent phone behaves when rung."""

    answer_after: float | None = 2.0  # seconds of ringing before answering; None = never answers
    answer_jitter: float = 0.0


@dataclass
class Device:
    """One member interface (shared by all the queues it is a member of)."""

    iface: str
    stateif: str
    behaviour: AgentBehaviour
    legs: set[str] = field(default_factory=set)  # ;1 names of this device's live channels
    in_call: Call | None = None
    last_end: dict[str, float] = field(default_factory=dict)  # queue -> end of last call
    forced: int | None = None  # a Custom: device state set over AMI (DEVICE_STATE())

    @property
    def status(self) -> int:
        if self.legs:
            return 2
        return self.forced if self.forced is not None else 1


@dataclass
class Member:
    queue: str
    iface: str
    name: str
    stateif: str
    penalty: int = 0
    paused: bool = False
    reason: str = ""
    calls: int = 0
    lastcall: int = 0
    lastpause: int = 0
    login: int = 0
    ringinuse: bool = True
    dynamic: bool = True


@dataclass
class Queue:
    conf: QueueConf
    members: dict[str, Member] = field(default_factory=dict)  # iface -> member, insertion order
    waiting: list[Call] = field(default_factory=list)
    rr_next: int = 0
    completed: int = 0
    abandoned: int = 0
    holdtime: float = 0.0  # Asterisk's exponentially weighted averages
    talktime: float = 0.0
    sl_ok: int = 0

    @property
    def name(self) -> str:
        return self.conf.name


@dataclass
class Channel:
    """What CoreShowChannels/Status report for one channel."""

    name: str
    uid: str
    linkedid: str
    context: str
    exten: str
    priority: int
    app: str
    appdata: str
    cid_num: str
    cid_name: str
    conn_num: str
    conn_name: str
    created: float
    state: int = 6
    bridge: str = ""
    call: Call | None = None
    role: str = ""  # "c1" "c2" "a1" "a2"
    leg: Leg | None = None
    variables: dict[str, str] = field(default_factory=dict)
    curl_options: dict[str, str] = field(default_factory=dict)  # CURLOPT() on this channel

    def runs(self, context: str, exten: str, priority: int, app: str, appdata: str) -> None:
        """The channel now runs ``app(appdata)`` at ``context,exten,priority``, as its last
        ``Newexten`` said: what ``CoreShowChannels`` and ``Status`` report from then on."""
        self.context, self.exten, self.priority, self.app, self.appdata = (
            context,
            exten,
            priority,
            app,
            appdata,
        )

    def snapshot(self) -> list[tuple[str, object]]:
        """The channel snapshot headers Asterisk puts in every channel event, in its order."""
        desc = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}.get(self.state, "Up")
        return [
            ("Channel", self.name),
            ("ChannelState", self.state),
            ("ChannelStateDesc", desc),
            ("CallerIDNum", self.cid_num),
            ("CallerIDName", self.cid_name),
            ("ConnectedLineNum", self.conn_num),
            ("ConnectedLineName", self.conn_name),
            ("Language", "en"),
            ("AccountCode", ""),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", self.priority),
            ("Uniqueid", self.uid),
            ("Linkedid", self.linkedid),
        ]


@dataclass
class Leg:
    """A Local channel pair towards a member (or a transfer target)."""

    ch1: str
    ch2: str
    uid1: str
    uid2: str
    iface: str
    exten: str
    context: str
    name: str
    stateif: str
    device: Device | None
    rung_at: float = 0.0
    answer_timer: Timer | None = None


@dataclass
class Ending:
    """How an answered call ends (chosen by the traffic model or a scripted scenario)."""

    kind: str = "caller"  # caller agent agent_ami caller_cut caller_chan_cut agent_cut transfer atxfer
    cause: int = 16
    transfer_exten: str = "2000"
    after_transfer: float = 30.0
    consult: float | None = 8.0  # atxfer: seconds of consultation before the agent hangs up


@dataclass
class CallScript:
    patience: float | None = 120.0  # seconds the caller waits before abandoning; None = forever
    talk: float = 60.0
    ending: Ending = field(default_factory=Ending)
    orig_actionid: str | None = None  # set when originated over AMI: OriginateResponse is sent


@dataclass
class Call:
    """One caller channel pair and its current queue entry."""

    number: str
    name: str
    ch1: str
    ch2: str
    uid1: str
    uid2: str
    created: float
    script: CallScript
    queue: str = ""
    entry: int = 0  # n-th queue entry of this channel
    joined_at: float = 0.0
    first_joined_at: float = 0.0
    origpos: int = 1
    _state: CallState = "new"  # read as .state, changed by .move (acd.sim.call_states)
    legs: list[Leg] = field(default_factory=list)
    agent: Leg | None = None
    connected_at: float = 0.0
    ring_started: float = 0.0
    retry_until: float = 0.0
    bridge: str = ""
    timers: list[Timer] = field(default_factory=list)
    priority: int = 0
    truth: dict[str, Any] = field(default_factory=dict)
    # where the caller's dialplan stands (the default dialplan: inbound, exten = number, Queue at 6)
    dp_context: str = "inbound"
    dp_exten: str = ""
    dp_prio: int = 6
    queue_appdata: str = ""
    no_retry: bool = False  # Queue()'s `n` option: leave after one ring cycle (QUEUESTATUS=TIMEOUT)
    tries: int = 0  # ring cycles counted as app_queue counts them for `n`
    queuestatus: str = ""
    withdraw_info: str = ""  # QueueWithdrawCaller's WithdrawInfo (queue_log's WITHDRAW line)
    on_leave: Callable[[str], None] | None = None  # the dialplan's Queue()/Dial() awaiting a result
    interpreted: bool = False  # a dialplan interpreter drives this channel
    ctx_extra: dict[str, Any] = field(default_factory=dict)  # template values of extra legs/bridges
    xfer_legs: list[Leg] = field(default_factory=list)  # attended transfer: consultation legs
    gosub: list[tuple[str, str, int]] = field(default_factory=list)  # Gosub()'s return addresses

    @property
    def state(self) -> CallState:
        return self._state

    def move(self, new: CallState) -> None:
        """Move to ``new``; a move :data:`acd.sim.call_states.TRANSITIONS` does not hold raises."""
        if not allowed(self._state, new):
            raise IllegalCallMove(f"{self.ch1}: {self._state} -> {new}")
        self._state = new

    @property
    def entry_id(self) -> str:
        return self.uid1 if self.entry <= 1 else f"{self.uid1}#{self.entry}"

    def cancel_timers(self) -> None:
        for t in self.timers:
            t.cancel()
        self.timers.clear()
