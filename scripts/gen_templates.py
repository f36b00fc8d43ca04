"""Build the simulator's call-phase templates from the raw AMI captures (a developer tool).

Why templates cut from captures: the simulator must emit, for every call, the very event
sequence a real Asterisk 22 emits (header names, order, the VarSet/Newexten noise, the quirks).
Writing ~200 events per call by hand would drift from the captures; cutting them out of the
captures and replacing the call's identities (channels, Uniqueids, numbers, names, durations)
with placeholders keeps them byte-faithful. The simulator's model decides *what* happens (which
member rings, when the caller gives up); the templates decide *how it looks on the wire*.

Run from the repository root after a new capture lands::

    .venv/bin/python scripts/gen_templates.py tests/fixtures/ami > acd/sim/templates.json

The simulator never reads the captures at run time; it loads the generated JSON (package data,
``acd/sim/templates.json``). tests/test_sim_templates.py regenerates it from the captures and
compares, so the file in the package is always what the captures give.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acd.ami.codec import parse_pairs

Pairs = list[tuple[str, str]]

# Header keys whose value depends on time or counters: one placeholder per key.
_KEY_PLACEHOLDERS = {
    "HoldTime": "holdtime",
    "TalkTime": "talktime",
    "Position": "position",
    "Count": "count",
    "OriginalPosition": "origpos",
    "StartTime": "cdr_start",
    "AnswerTime": "cdr_answer",
    "EndTime": "cdr_end",
    "Duration": "cdr_duration",
    "BillableSeconds": "cdr_billsec",
}
# VarSet variables whose value is dynamic (empty values stay literal: they mark "reset").
_VAR_PLACEHOLDERS = {
    "QEHOLDTIME": "holdtime",
    "QEORIGINALPOS": "origpos",
    "QUEUEPOSITION": "position",
    "QUEUEWAIT": "holdtime",
    "QUEUEWAIT_MS": "holdtime_ms",
    "ANSWEREDTIME": "talktime",
    "ANSWEREDTIME_MS": "talktime_ms",
    "DIALEDTIME": "dialedtime",
    "DIALEDTIME_MS": "dialedtime_ms",
    "QUEUECALLS": "q_calls",
    "QUEUEHOLDTIME": "q_holdtime",
    "QUEUETALKTIME": "q_talktime",
    "QUEUECOMPLETED": "q_completed",
    "QUEUEABANDONED": "q_abandoned",
    "QUEUESRVLEVEL": "q_servicelevel",
    "QUEUESRVLEVELPERF": "q_slperf",
    "QUEUESTRATEGY": "q_strategy",
    "QUEUEMAX": "q_max",
    "MEMBERCALLS": "{role}_calls",
    "MEMBERLASTCALL": "{role}_lastcall",
    "MEMBERPENALTY": "{role}_penalty",
    "QUEUESTATUS": "queuestatus",
}
# Member snapshot headers in QueueMember* events.
_MEMBER_KEYS = {
    "Penalty": "penalty",
    "CallsTaken": "calls",
    "LastCall": "lastcall",
    "LastPause": "lastpause",
    "LoginTime": "login",
    "Paused": "paused",
    "PausedReason": "reason",
    "Ringinuse": "ringinuse",
    "InCall": "incall",
    "Status": "status",
}

CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "No user responding",
    21: "Call Rejected",
    27: "Destination out of order",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    44: "Requested channel not available",
}


@dataclass
class Leg:
    """One Local channel pair seen in a call: its two channels, Uniqueids and dial target."""

    ch1: str
    ch2: str
    uid1: str
    uid2: str
    exten: str
    context: str


@dataclass
class CallWindow:
    """The messages of one call (responses kept as markers), with the call's identities."""

    items: list[Pairs]
    caller: Leg
    legs: list[Leg] = field(default_factory=list)
    number: str = ""
    name: str = ""
    bridges: list[str] = field(default_factory=list)


def read_capture(path: Path) -> list[Pairs]:
    text = path.read_bytes().decode("utf-8", "replace")
    nl = text.find("\n")
    if text.startswith("Asterisk Call Manager/"):
        text = text[nl + 1 :]
    return [parse_pairs(b) for b in text.split("\r\n\r\n") if b.strip()]


def _get(p: Pairs, key: str) -> str:
    for k, v in p:
        if k == key:
            return v
    return ""


def _is_event(p: Pairs) -> bool:
    return bool(p) and p[0][0] == "Event"


def find_call(msgs: list[Pairs], number: str) -> CallWindow:
    """Cut the window of the call whose caller is ``number`` out of a capture."""
    lid = ""
    for p in msgs:
        if _is_event(p) and _get(p, "Event") == "Newchannel" and f"Local/{number}@" in _get(p, "Channel"):
            lid = _get(p, "Linkedid")
            break
    if not lid:
        raise SystemExit(f"no call from {number}")
    idx = [
        i
        for i, p in enumerate(msgs)
        if _is_event(p)
        and lid
        in (_get(p, "Linkedid"), _get(p, "LinkedID"), _get(p, "LocalOneLinkedid"), _get(p, "Uniqueid"))
    ]
    first, last = idx[0], idx[-1]
    # AgentComplete without Channel headers and the last Hangups may lie a little past the last
    # linked event: extend over unlinked events (never past another call or an action response).
    while last + 1 < len(msgs):
        nxt = msgs[last + 1]
        if not _is_event(nxt) or _get(nxt, "Linkedid") or _get(nxt, "Event") == "Newchannel":
            break
        if _get(nxt, "Event") not in (
            "DeviceStateChange",
            "QueueMemberStatus",
            "AgentComplete",
            "Cdr",
            "BridgeDestroy",
        ):
            break
        last += 1
    items: list[Pairs] = []
    skip_pause_dsc = False
    for p in msgs[first : last + 1]:
        if not _is_event(p):
            items.append(p)  # response marker
            skip_pause_dsc = True
            continue
        ev = _get(p, "Event")
        if _get(p, "ActionID") and ev != "OriginateResponse":
            continue  # list events answering an action
        if ev in ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "QueueMemberPenalty"):
            skip_pause_dsc = True
            continue
        dev = _get(p, "Device")
        if ev == "DeviceStateChange" and dev.startswith("Queue:") and ("_pause_" in dev or skip_pause_dsc):
            continue
        lk = _get(p, "Linkedid") or _get(p, "LinkedID")
        if lk and lk != lid:
            continue
        skip_pause_dsc = False
        items.append(p)
    chans: dict[str, tuple[str, str, str]] = {}
    order: list[str] = []
    for p in items:
        if _is_event(p) and _get(p, "Event") == "Newchannel":
            ch = _get(p, "Channel")
            base = ch[:-2]
            if base not in chans:
                chans[base] = ("", "", _get(p, "Exten"))
                order.append(base)
            u1, u2, ex = chans[base]
            if ch.endswith(";1"):
                u1 = _get(p, "Uniqueid")
            else:
                u2 = _get(p, "Uniqueid")
            chans[base] = (u1, u2, ex)
    legs = []
    for base in order:
        u1, u2, ex = chans[base]
        ctx = base.split("@", 1)[1].rsplit("-", 1)[0]
        legs.append(Leg(base + ";1", base + ";2", u1, u2, ex, ctx))
    caller = legs[0]
    name = ""
    for p in items:
        if (
            _is_event(p)
            and _get(p, "Channel") == caller.ch1
            and _get(p, "CallerIDName") not in ("", "<unknown>")
        ):
            name = _get(p, "CallerIDName")
            break
    bridges = []
    for p in items:
        b = _get(p, "BridgeUniqueid")
        if b and b not in bridges:
            bridges.append(b)
    return CallWindow(items, caller, legs[1:], caller.exten, name, bridges)


def _esc(s: str) -> str:
    return s.replace("{", "{{").replace("}", "}}")


class Substituter:
    """Replace one call's identities with placeholders, longest first."""

    def __init__(
        self,
        win: CallWindow,
        roles: dict[int, str],
        cause: int | None,
        member_roles: dict[str, str],
        position_apps: tuple[str, ...] = ("Queue",),
    ):
        full: dict[str, str] = {}
        sub: list[tuple[str, str]] = []
        c = win.caller
        full.update({c.ch1: "c_ch1", c.ch2: "c_ch2", c.uid1: "c_uid1", c.uid2: "c_uid2"})
        sub += [(c.ch1, "c_ch1"), (c.ch2, "c_ch2"), (c.ch1[:-2], "c_base")]
        for i, leg in enumerate(win.legs):
            r = roles.get(i)
            if r is None:
                continue
            full.update(
                {leg.ch1: f"{r}_ch1", leg.ch2: f"{r}_ch2", leg.uid1: f"{r}_uid1", leg.uid2: f"{r}_uid2"}
            )
            sub += [(leg.ch1, f"{r}_ch1"), (leg.ch2, f"{r}_ch2"), (leg.ch1[:-2], f"{r}_base")]
            sub += [
                (f"Local/{leg.exten}@{leg.context}", f"{r}_iface"),
                (f"{leg.exten}@{leg.context}", f"{r}_dial"),
            ]
        for i, b in enumerate(win.bridges):
            full[b] = f"bridge{i}" if i else "bridge"
        self.full = full
        self.sub = sorted(sub, key=lambda kv: -len(kv[0]))
        self.words: list[tuple[re.Pattern[str], str]] = []
        if win.name:
            self.words.append((re.compile(re.escape(win.name)), "c_name"))
        self.words.append((re.compile(rf"(?<!\d){re.escape(win.number)}(?!\d)"), "c_num"))
        for i, leg in enumerate(win.legs):
            r = roles.get(i)
            if r is not None and leg.exten.isdigit():
                self.words.append((re.compile(rf"(?<![\d.]){re.escape(leg.exten)}(?!\d)"), f"{r}_exten"))
        for name, r in member_roles.items():
            self.words.append((re.compile(rf"\b{re.escape(name)}\b"), f"{r}_name"))
        self.cause = cause
        # The caller's dialplan position (context, exten, priority) while in Queue(): it is the
        # interpreter's to fill when a dialplan runs.
        self.positions: set[tuple[str, str]] = set()
        seen_apps: set[str] = set()
        for p in win.items:
            app = _get(p, "Application")
            if _is_event(p) and _get(p, "Channel") == c.ch1 and app in position_apps and app not in seen_apps:
                seen_apps.add(app)  # the first Queue()/Dial() line only: later ones are other steps
                self.positions.add((_get(p, "Context"), _get(p, "Priority")))
        self.qctxs = {ctx for ctx, _ in self.positions}
        self.roles = roles
        self.member_roles = member_roles
        self.win = win

    def value(self, event: str, key: str, value: str, pairs: Pairs) -> str:
        if (
            key in ("Context", "Exten", "Priority")
            and _get(pairs, "Channel") == self.win.caller.ch1
            and _get(pairs, "Context") in self.qctxs
            and (key != "Priority" or (_get(pairs, "Context"), value) in self.positions)
        ):
            return "{" + {"Context": "c_context", "Exten": "c_exten", "Priority": "c_prio"}[key] + "}"
        if key == "DestinationContext" and value in self.qctxs:
            return "{c_context}"
        if key.endswith("Context") and value:
            vals = {v for _, v in pairs}
            for i, leg in enumerate(self.win.legs):
                r = self.roles.get(i)
                if r is not None and value == leg.context and (leg.ch1 in vals or leg.ch2 in vals):
                    return "{" + r + "_context}"
        if value in self.full:
            return "{" + self.full[value] + "}"
        if key in ("Uniqueid", "Linkedid", "UniqueID", "LinkedID", "DestUniqueid", "DestLinkedid") and value:
            return "{c_uid1}" if value == self.win.caller.uid1 else _esc(value)
        if event == "VarSet" and key == "Value" and value:
            var = _get(pairs, "Variable")
            ph = _VAR_PLACEHOLDERS.get(var)
            if ph:
                return "{" + ph.replace("{role}", self._role_of(pairs)) + "}"
        if event in ("QueueMemberStatus",) and key in _MEMBER_KEYS:
            return "{" + self._role_of(pairs) + "_" + _MEMBER_KEYS[key] + "}"
        if event == "QueueMemberStatus" and key == "StateInterface":
            return "{" + self._role_of(pairs) + "_stateif}"
        if key == "RingTime":
            return "{ringtime_ms}" if event == "AgentRingNoAnswer" else "{ringtime}"
        if key in _KEY_PLACEHOLDERS and value and event != "VarSet":
            return "{" + _KEY_PLACEHOLDERS[key] + "}"
        if key == "Queue" and value:
            return "{queue}"
        if event == "Newexten" and key == "AppData" and _get(pairs, "Application") == "Queue":
            return "{queue_appdata}"
        if self.cause is not None and self.cause != 16:
            if key == "Cause" and value == str(self.cause) and event != "SoftHangupRequest":
                return "{cause}"
            if key == "Cause-txt" and value == CAUSE_TEXT.get(self.cause):
                return "{cause_txt}"
        out = _esc(value)
        for lit, ph in self.sub:
            out = out.replace(_esc(lit), "{" + ph + "}")
        for rx, ph in self.words:
            out = rx.sub("{" + ph + "}", out)
        if key == "Device" and out.startswith("Queue:"):
            out = re.sub(r"^Queue:[^_]+", "Queue:{queue}", out)
        return out

    def _role_of(self, pairs: Pairs) -> str:
        name = _get(pairs, "MemberName")
        if name in self.member_roles:
            return self.member_roles[name]
        ch = _get(pairs, "Channel")
        for i, leg in enumerate(self.win.legs):
            if ch in (leg.ch1, leg.ch2) and i in self.roles:
                return self.roles[i]
        return next(iter(self.roles.values()), "a")


# (event name, class, format string of the whole message, flags)
Template = tuple[str, str, str, str]


def render(items: Sequence[Pairs], s: Substituter) -> list[Template]:
    out: list[Template] = []
    for p in items:
        if not _is_event(p):
            continue
        ev = _get(p, "Event")
        priv = _get(p, "Privilege")
        cls = priv.split(",", 1)[0] if priv else ""
        lines = []
        for k, v in p:
            if k == "ActionID":
                lines.append("ActionID: {orig_actionid}\r\n")
                continue
            lines.append(f"{k}: {s.value(ev, k, v, p)}\r\n")
            if k == "Privilege":
                lines.append("{_ts}")
        flags = "orig" if ev == "OriginateResponse" else ""
        out.append((ev, cls, "".join(lines) + "\r\n", flags))
    return out


def _idx(items: list[Pairs], pred: Callable[[Pairs], bool], start: int = 0) -> int:
    for i in range(start, len(items)):
        if pred(items[i]):
            return i
    raise SystemExit("boundary not found")


def ev_is(name: str, **hdr: str) -> Callable[[Pairs], bool]:
    return lambda p: (
        _is_event(p) and _get(p, "Event") == name and all(_get(p, k) == v for k, v in hdr.items())
    )


def resp(msg: str) -> Callable[[Pairs], bool]:
    return lambda p: not _is_event(p) and _get(p, "Message") == msg


def build(root: Path) -> dict[str, list[Template]]:
    phases: dict[str, list[Template]] = {}

    def cut(
        cap: str,
        number: str,
        spec: Callable[[CallWindow], dict[str, tuple[int, int, dict[int, str], int | None]]],
        position_apps: tuple[str, ...] = ("Queue",),
    ) -> None:
        win = find_call(read_capture(root / cap), number)
        for name, (a, b, roles, cause) in spec(win).items():
            members = {}
            for i, r in roles.items():
                for p in win.items:
                    if _get(p, "DestChannel") == win.legs[i].ch1 and _get(p, "MemberName"):
                        members[_get(p, "MemberName")] = r
                        break
            phases[name] = render(win.items[a:b], Substituter(win, roles, cause, members, position_apps))

    def answered(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        it = w.items
        moh = _idx(it, ev_is("MusicOnHoldStart"))
        ds = _idx(it, ev_is("DialState", DestChannel=w.legs[0].ch1))
        hang = _idx(it, resp("Channel Hungup"))
        return {
            "arrive": (0, moh + 1, {}, None),
            "ring": (moh + 1, ds + 1, {0: "a"}, None),
            "answer": (ds + 1, hang, {0: "a"}, None),
            "end_caller": (hang + 1, len(it), {0: "a"}, 16),
        }

    cut("answered_call.ami.log", "5552001", answered)

    # With a dialplan the simulator emits the caller's dialplan lines itself: the arrival is
    # split into the channel coming up and the queue join that follows Queue().
    def split_arrive(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        it = w.items
        q = _idx(it, ev_is("Newexten", Application="Queue"))
        moh = _idx(it, ev_is("MusicOnHoldStart"))
        return {"_arrive_head": (0, q, {}, None), "queue_join": (q + 1, moh + 1, {}, None)}

    cut("answered_call.ami.log", "5552001", split_arrive)
    phases["channel_up"] = [
        t
        for t in phases.pop("_arrive_head")
        if not (t[0] in ("Newexten", "VarSet") and "Channel: {c_ch1}" in t[2] and "Context: inbound" in t[2])
    ]

    def queue_leave(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        it = w.items
        a = _idx(it, ev_is("VarSet", Variable="ABANDONED", Channel=w.caller.ch1))
        b = _idx(it, ev_is("VarSet", Variable="QUEUESTATUS", Channel=w.caller.ch1), a)
        return {"queue_leave": (a, b + 1, {}, None)}

    cut("weighted-queues/e3_timeout.ami.log", "5745504", queue_leave)

    # Dial() of a member's phone from the dialplan (redirect_to_agent 9a: direct-agent/1002).
    def dial(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        it = w.items
        nc = _idx(it, ev_is("Newchannel", Channel=w.legs[0].ch1))
        ds = _idx(it, ev_is("DialState", DestChannel=w.legs[0].ch1))
        hang = _idx(it, resp("Channel Hungup"), ds)
        return {
            "dial_ring": (nc, ds + 1, {0: "a"}, None),
            "dial_answer": (ds + 1, hang, {0: "a"}, None),
            "dial_end_caller": (hang + 1, len(it), {0: "a"}, 16),
        }

    cut("redirect_to_agent.ami.log", "5559001", dial, ("Queue", "Dial"))

    # The caller's own channel (;1) ends outside a queue and takes its ;2 half with it
    # (e4_paused: the script hung ;1 up without a Cause; a dialplan end gives Cause 16).
    def channel_end(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        it = w.items
        leave = _idx(it, ev_is("QueueCallerLeave", Channel=w.caller.ch1))
        first = _idx(it, ev_is("SoftHangupRequest", Channel=w.caller.ch1), leave)
        return {"hangup_dialplan": (first, len(it), {}, 0)}

    cut("weighted-queues/e4_paused.ami.log", "5745522", channel_end)

    def end_only(
        name: str, cause: int
    ) -> Callable[[CallWindow], dict[str, tuple[int, int, dict[int, str], int | None]]]:
        def spec(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
            hang = _idx(w.items, resp("Channel Hungup"))
            return {name: (hang + 1, len(w.items), {0: "a"}, cause)}

        return spec

    cut("agent_hangup_cutoff.ami.log", "5553001", end_only("end_agent_ami", 16))
    cut("agent_hangup_cutoff.ami.log", "5553002", end_only("end_agent_phone", 41))
    cut("caller_dropped.ami.log", "5554001", end_only("end_caller_chan", 38))
    cut("caller_dropped.ami.log", "5554002", end_only("end_caller_phone", 41))

    def abandon_wait(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        hang = _idx(w.items, resp("Channel Hungup"))
        return {"abandon_wait": (hang + 1, len(w.items), {}, 16)}

    cut("abandon.ami.log", "5556001", abandon_wait)

    def abandon_ring(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        hang = _idx(w.items, resp("Channel Hungup"))
        return {"abandon_ring": (hang + 1, len(w.items), {0: "a"}, 16)}

    cut("abandon.ami.log", "5556002", abandon_ring)

    def rna(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        it = w.items
        ds = _idx(it, ev_is("DialState", DestChannel=w.legs[0].ch1))
        nxt = _idx(it, ev_is("Newchannel", Channel=w.legs[1].ch1))
        return {"ring_no_answer": (ds + 1, nxt, {0: "a"}, None)}

    cut("ring_no_answer.ami.log", "5557001", rna)

    def blind(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        it = w.items
        x = _idx(it, resp("Transfer succeeded"))
        hang = _idx(it, resp("Channel Hungup"), x)
        return {
            "blind_transfer": (x + 1, hang, {0: "a", 1: "b"}, None),
            "transfer_end": (hang + 1, len(it), {0: "a", 1: "b"}, 16),
        }

    cut("transfer.ami.log", "5558001", blind)

    # 8c: Atxfer from the agent's channel: consultation call, then the agent hangs up.
    def attended(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        it = w.items
        x = _idx(it, resp("Atxfer successfully queued"))
        h1 = _idx(it, resp("Channel Hungup"), x)
        h2 = _idx(it, resp("Channel Hungup"), h1 + 1)
        roles = {0: "a", 1: "b", 2: "d"}  # "c_" is the caller
        return {
            "atxfer_start": (x + 1, h1, roles, None),
            "atxfer_complete": (h1 + 1, h2, roles, None),
            "atxfer_end": (h2 + 1, len(it), roles, 16),
        }

    cut("transfer.ami.log", "5558003", attended)

    def restart(w: CallWindow) -> dict[str, tuple[int, int, dict[int, str], int | None]]:
        it = w.items
        bridged = _idx(it, ev_is("Newexten", Application="Wait", AppData="3600", Channel=w.legs[0].ch2))
        return {"restart_bridged": (bridged + 1, len(it), {0: "a"}, None)}

    cut("asterisk_restart.ami.log", "5551400", restart)
    # A leg whose ringing is cancelled (ringall: another member answered) ends as the rung leg
    # does when the caller abandons while it rings: the member-side events of that phase.
    phases["ring_cancel"] = [t for t in phases["abandon_ring"] if "{a_" in t[2]]
    # A Dial() nobody answers: the queue's no-answer teardown without the queue's own events.
    phases["dial_noanswer"] = [
        t for t in phases["ring_no_answer"] if t[0] not in ("AgentRingNoAnswer", "QueueMemberStatus")
    ]
    # A caller outside any queue hanging up (dialplan or phone): the abandon minus the queue.
    phases["hangup_idle"] = [
        t
        for t in phases["abandon_wait"]
        if t[0] not in ("QueueCallerAbandon", "QueueCallerLeave", "MusicOnHoldStop", "VarSet")
        and "Device: Queue:" not in t[2]
    ]
    return phases


def dumps(phases: dict[str, list[Template]]) -> str:
    """The JSON file: ``{phase: [[event, class, format string, flags], ...]}``, one template a line
    so a new capture shows as a readable diff."""
    lines = ["{"]
    names = list(phases)
    for i, name in enumerate(names):
        lines.append(f"  {json.dumps(name)}: [")
        temps = phases[name]
        for j, t in enumerate(temps):
            comma = "," if j < len(temps) - 1 else ""
            lines.append(f"    {json.dumps(list(t), ensure_ascii=False)}{comma}")
        lines.append("  ]" + ("," if i < len(names) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(args[0] if args else "tests/fixtures/ami")
    sys.stdout.write(dumps(build(root)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
