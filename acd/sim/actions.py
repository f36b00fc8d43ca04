"""AMI actions, answered with the texts and list framing the captures show.

Each action has the write classes Asterisk registers it with; a session lacking all of them gets
``Permission denied`` and a ``RequestNotAllowed`` security event, as on Asterisk. The response is
written before the events the action causes, as in the captures.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from acd.sim import endings, hangups, members, transfers
from acd.sim.emit import event, list_complete, list_event, response
from acd.sim.entities import CallScript, Ending
from acd.sim.queue_strategy import free_for
from acd.sim.server import Session, reply
from acd.sim.state_events import member_pairs

if TYPE_CHECKING:
    from acd.sim.simulator import Simulator

Fn = Callable[["Simulator", Session, dict[str, str], "str | None"], None]


@dataclass(frozen=True)
class Action:
    fn: Fn
    authority: frozenset[str]
    synopsis: str


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("true", "yes", "1", "on", "y", "t")


# ---- informational --------------------------------------------------------------------------
def a_ping(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    now = sim.now()
    s.send(response(aid, None, extra=(("Ping", "Pong"), ("Timestamp", f"{now:.6f}"))))


def a_events(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    s.set_events(m.get("EventMask", "on"))
    s.send(response(aid, None, extra=(("Events", "On" if s.events_on else "Off"),)))


def a_logoff(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    s.send(response(aid, "Thanks for all the fish.", "Goodbye"))
    s.close()


def a_listcommands(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    assert s.user is not None
    extra = []
    for name, act in ACTIONS.items():
        if not act.authority or act.authority & s.user.write:
            priv = ",".join(sorted(act.authority)) + ",all" if act.authority else "<none>"
            extra.append((name, f"{act.synopsis}  (Priv: {priv})"))
    s.send(response(aid, None, extra=extra))


def a_queuestatus(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    pbx = sim.pbx
    want_q = m.get("Queue") or None
    want_m = m.get("Member") or None
    s.send(response(aid, "Queue status will follow", eventlist=True))
    parts: list[bytes] = []
    now = sim.now()
    for q in pbx.queues.values():
        if want_q and q.name != want_q:
            continue
        perf = (100.0 * q.sl_ok / q.completed) if q.completed else 0.0
        parts.append(
            list_event(
                "QueueParams",
                (
                    ("Queue", q.name),
                    ("Max", q.conf.maxlen),
                    ("Strategy", q.conf.strategy),
                    ("Calls", len(q.waiting)),
                    ("Holdtime", int(q.holdtime)),
                    ("TalkTime", int(q.talktime)),
                    ("Completed", q.completed),
                    ("Abandoned", q.abandoned),
                    ("ServiceLevel", q.conf.servicelevel),
                    ("ServicelevelPerf", f"{perf:.1f}"),
                    ("ServicelevelPerf2", f"{perf:.1f}"),
                    ("Weight", q.conf.weight),
                ),
                aid,
            )
        )
        for mem in q.members.values():
            if want_m and mem.iface != want_m and mem.name != want_m:
                continue
            pairs = member_pairs(pbx, mem)
            pairs[1] = ("Name", mem.name)
            pairs[2] = ("Location", mem.iface)
            del pairs[14]  # QueueMember has no Ringinuse
            parts.append(list_event("QueueMember", pairs, aid))
        if not want_m:
            for pos, call in enumerate(q.waiting, 1):
                parts.append(
                    list_event(
                        "QueueEntry",
                        (
                            ("Queue", q.name),
                            ("Position", pos),
                            ("Channel", call.ch1),
                            ("Uniqueid", call.uid1),
                            ("CallerIDNum", call.number),
                            ("CallerIDName", call.name),
                            ("ConnectedLineNum", call.number),
                            ("ConnectedLineName", call.name),
                            ("Wait", int(now - call.joined_at)),
                            ("Priority", call.priority),
                        ),
                        aid,
                    )
                )
    parts.append(list_complete("QueueStatusComplete", aid, len(parts)))
    s.send(b"".join(parts))


def a_queuesummary(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    pbx = sim.pbx
    want_q = m.get("Queue") or None
    s.send(response(aid, "Queue summary will follow", eventlist=True))
    parts: list[bytes] = []
    now = sim.now()
    for q in pbx.queues.values():
        if want_q and q.name != want_q:
            continue
        avail = sum(1 for mem in q.members.values() if free_for(pbx, mem, q))
        longest = int(now - min((c.joined_at for c in q.waiting), default=now))
        parts.append(
            list_event(
                "QueueSummary",
                (
                    ("Queue", q.name),
                    ("LoggedIn", len(q.members)),
                    ("Available", avail),
                    ("Callers", len(q.waiting)),
                    ("HoldTime", int(q.holdtime)),
                    ("TalkTime", int(q.talktime)),
                    ("LongestHoldTime", longest),
                ),
                aid,
            )
        )
    parts.append(list_complete("QueueSummaryComplete", aid, len(parts)))
    s.send(b"".join(parts))


def _duration(sec: float) -> str:
    sec = int(sec)
    return f"{sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}"


def a_coreshowchannels(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    s.send(response(aid, "Channels will follow", eventlist=True))
    now = sim.now()
    parts = []
    for ch in sim.pbx.channels.values():
        pairs = ch.snapshot()
        pairs += [
            ("Application", ch.app),
            ("ApplicationData", ch.appdata),
            ("Duration", _duration(now - ch.created)),
            ("BridgeId", ch.bridge),
        ]
        parts.append(list_event("CoreShowChannel", pairs, aid, first=True))
    parts.append(list_complete("CoreShowChannelsComplete", aid, len(parts)))
    s.send(b"".join(parts))


def a_status(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    want = m.get("Channel") or None
    chans = [c for c in sim.pbx.channels.values() if want is None or c.name == want]
    if want and not chans:
        s.send(response(aid, "No such channel", "Error"))
        return
    s.send(response(aid, "Channel status will follow", eventlist=True))
    now = sim.now()
    parts = []
    for ch in chans:
        pairs = [
            *ch.snapshot(),
            ("Type", "Local"),
            ("DNID", ""),
            ("EffectiveConnectedLineNum", ch.conn_num),
            ("EffectiveConnectedLineName", ch.conn_name),
            ("TimeToHangup", 0),
            ("BridgeID", ch.bridge),
            ("Application", ch.app),
            ("Data", ch.appdata),
            ("Nativeformats", "(ulaw)"),
            ("Readformat", "ulaw"),
            ("Readtrans", ""),
            ("Writeformat", "ulaw"),
            ("Writetrans", ""),
            ("Callgroup", 0),
            ("Pickupgroup", 0),
            ("Seconds", int(now - ch.created)),
        ]
        parts.append(
            event("Status", "call", pairs)[1].replace(b"\r\n\r\n", f"\r\nActionID: {aid}\r\n\r\n".encode())
            if aid
            else event("Status", "call", pairs)[1]
        )
    parts.append(list_complete("StatusComplete", aid, len(parts), (("Items", len(parts)),)))
    s.send(b"".join(parts))


# ---- queue members --------------------------------------------------------------------------
def a_queueadd(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    queue, iface = m.get("Queue", ""), m.get("Interface", "")
    if not queue or not iface:
        reply(s, aid, "'Queue' and 'Interface' not specified.", "Error")
        return
    q = sim.pbx.queues.get(queue)
    if q is None:
        reply(s, aid, "Unable to add interface to queue: No such queue", "Error")
        return
    if iface in q.members:
        reply(s, aid, "Unable to add interface: Already there", "Error")
        return
    reply(s, aid, "Added interface to queue")
    try:
        penalty = int(m.get("Penalty") or 0)
    except ValueError:
        penalty = 0
    paused = _truthy(m.get("Paused"))
    members.add_member(
        sim.pbx,
        queue,
        iface,
        m.get("MemberName") or iface,
        penalty,
        paused,
        m.get("Reason", ""),
        m.get("StateInterface") or None,
    )


def a_queueremove(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    queue, iface = m.get("Queue", ""), m.get("Interface", "")
    q = sim.pbx.queues.get(queue)
    if q is None:
        reply(s, aid, "Unable to remove interface from queue: No such queue", "Error")
        return
    if iface not in q.members:
        reply(s, aid, "Unable to remove interface: Not there", "Error")
        return
    reply(s, aid, "Removed interface from queue")
    members.remove_member(sim.pbx, queue, iface)


def a_queuepause(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    iface = m.get("Interface", "")
    paused_raw = m.get("Paused")
    if not iface or paused_raw is None:
        reply(s, aid, "Need 'Interface' and 'Paused' headers.", "Error")
        return
    queue = m.get("Queue") or None
    paused = _truthy(paused_raw)
    if not [mem for mem in sim.pbx.memberships(iface) if queue is None or mem.queue == queue]:
        reply(s, aid, "Interface not found", "Error")
        return
    reply(s, aid, "Interface paused successfully" if paused else "Interface unpaused successfully")
    members.pause(sim.pbx, iface, paused, m.get("Reason", ""), queue)


def a_queuepenalty(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    iface = m.get("Interface", "")
    try:
        penalty = int(m.get("Penalty", ""))
    except ValueError:
        reply(s, aid, "Invalid interface, queuename or penalty", "Error")
        return
    queue = m.get("Queue") or None
    if not [mem for mem in sim.pbx.memberships(iface) if queue is None or mem.queue == queue]:
        reply(s, aid, "Invalid interface, queuename or penalty", "Error")
        return
    reply(s, aid, "Interface penalty set successfully")
    members.set_penalty(sim.pbx, iface, penalty, queue)


def a_queuewithdraw(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    queue, caller = m.get("Queue", ""), m.get("Caller", "")
    call = sim.pbx.calls.get(caller)
    if call is None or call.queue != queue or call.state not in ("waiting", "ringing"):
        reply(s, aid, "Unable to request withdraw from queue: No such caller", "Error")
        return
    reply(s, aid, "Withdraw requested successfully")
    endings.withdraw(sim.pbx, queue, caller, m.get("WithdrawInfo", ""))


# ---- channels -------------------------------------------------------------------------------
def a_hangup(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    name = m.get("Channel", "")
    if name not in sim.pbx.channels:
        reply(s, aid, "No such channel", "Error")
        return
    cause = None
    if m.get("Cause"):
        try:
            cause = int(m["Cause"])
        except ValueError:
            cause = None
    reply(s, aid, "Channel Hungup")
    hangups.hangup_channel(sim.pbx, name, cause)


def a_redirect(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    name = m.get("Channel", "")
    ch = sim.pbx.channels.get(name)
    if ch is None:
        reply(s, aid, "Channel specified does not exist", "Error")
        return
    reply(s, aid, "Redirect successful")
    sim.redirect(name, m.get("Context", ""), m.get("Exten", ""), m.get("Priority", "1"))


def a_blindtransfer(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    name = m.get("Channel", "")
    ch = sim.pbx.channels.get(name)
    if ch is None or ch.call is None or ch.call.state != "bridged":
        reply(s, aid, "No such channel", "Error")
        return
    reply(s, aid, "Transfer succeeded")
    call = ch.call
    call.script.ending = Ending("transfer", 16, transfer_exten=m.get("Exten") or "2000")
    endings.end_call(sim.pbx, call, "transfer")


def a_atxfer(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    name = m.get("Channel", "")
    ch = sim.pbx.channels.get(name)
    exten = m.get("Exten", "")
    if ch is None or ch.call is None or ch.call.state != "bridged" or ch.role != "a1" or not exten:
        reply(s, aid, "No such channel" if ch is None else "Unable to perform attended transfer", "Error")
        return
    reply(s, aid, "Atxfer successfully queued")
    transfers.atxfer(sim.pbx, ch.call, exten, m.get("Context") or "xfer", consult=None)


def a_queuelog(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    """QueueLog: Asterisk appends a custom queue_log line; the simulator keeps them in order."""
    if not m.get("Queue") or not m.get("Event"):
        reply(s, aid, "Need 'Queue' and 'Event' headers.", "Error")
        return
    line = (
        int(sim.now()),
        m.get("Uniqueid", "NONE"),
        m["Queue"],
        m.get("Interface", "NONE"),
        m["Event"],
        m.get("Message", ""),
    )
    sim.pbx.queue_log.append(line)
    if sim.pbx.qlog is not None:
        sim.pbx.qlog.write(*line)
    reply(s, aid, "Event added successfully")


def a_setvar(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    var = m.get("Variable", "")
    if not var:
        reply(s, aid, "No variable specified", "Error")
        return
    name = m.get("Channel") or None
    value = m.get("Value", "")
    if name is not None:
        ch = sim.pbx.channels.get(name)
        if ch is None:
            reply(s, aid, "Channel not found", "Error")
            return
        reply(s, aid, "Variable Set")
        sim.set_channel_var(ch, var, value)
        return
    reply(s, aid, "Variable Set")
    dev = re.fullmatch(r"DEVICE_STATE\((.+)\)", var)
    if dev:
        sim.set_device_state(dev.group(1), value)
    else:
        sim.pbx.globals[var] = value


def a_getvar(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    var = m.get("Variable", "")
    if not var:
        reply(s, aid, "No variable specified", "Error")
        return
    name = m.get("Channel") or None
    ch = None
    if name is not None:
        ch = sim.pbx.channels.get(name)
        if ch is None:
            reply(s, aid, "No such channel", "Error")
            return
    if var.endswith(")"):
        # A function (CURL(...) waits for its server, as manager.c's Getvar does): answered when done.
        async def answer() -> None:
            value = await sim.read_function(ch, var)
            s.send(response(aid, None, extra=(("Variable", var), ("Value", value))))

        sim.spawn(answer())
        return
    value = sim.get_channel_var(ch, var) if ch is not None else sim.pbx.globals.get(var, "")
    s.send(response(aid, None, extra=(("Variable", var), ("Value", value))))


def a_originate(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    chan = m.get("Channel", "")
    mt = re.fullmatch(r"Local/([^@]+)@([^/]+)", chan)
    if not chan:
        reply(s, aid, "Channel not specified", "Error")
        return
    if not (m.get("Context") or m.get("Application")):
        reply(s, aid, "Originate with no Application or Context", "Error")
        return
    reply(s, aid, "Originate successfully queued")
    number = mt.group(1) if mt else re.sub(r"\D", "", chan) or "0"
    cid = re.search(r"<([^>]*)>", m.get("CallerID", ""))
    if cid:
        number = cid.group(1)
    queue = sim.queue_for(m.get("Context", ""), m.get("Exten", ""))
    variables = {}
    for item in m.get("Variable", "").replace(",", "\n").split("\n"):
        k, eq, v = item.partition("=")
        if eq:
            variables[k.strip()] = v
    prio = m.get("Priority", "1")
    sim.originate(
        number,
        queue,
        orig_actionid=aid or "",
        context=m.get("Context", ""),
        exten=m.get("Exten", ""),
        priority=int(prio) if prio.isdigit() else 1,
        variables=variables,
    )


def a_userevent(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    name = m.get("UserEvent", "")
    if not name:
        reply(s, aid, "UserEvent header missing", "Error")
        return
    reply(s, aid, "Event Sent")
    pairs: list[tuple[str, object]] = [("UserEvent", name)]
    if aid is not None:
        pairs.append(("ActionID", aid))
    for k, v in m.items():
        if k in ("Action", "ActionID", "UserEvent"):
            continue
        for part in v.split("\n"):
            pairs.append((k, part))
    sim.broadcast([event("UserEvent", "user", pairs, sim.ts())])


# ---- AstDB ----------------------------------------------------------------------------------
def a_dbput(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    fam, key = m.get("Family", ""), m.get("Key", "")
    if not fam or not key:
        reply(s, aid, "No family specified" if not fam else "No key specified", "Error")
        return
    sim.pbx.db[f"/{fam}/{key}"] = m.get("Val", "")
    reply(s, aid, "Updated database successfully")


def a_dbget(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    fam, key = m.get("Family", ""), m.get("Key", "")
    val = sim.pbx.db.get(f"/{fam}/{key}")
    if val is None:
        reply(s, aid, "Database entry not found", "Error")
        return
    s.send(
        response(aid, "Result will follow", eventlist=True)
        + list_event("DBGetResponse", (("Family", fam), ("Key", key), ("Val", val)), aid)
        + list_complete("DBGetComplete", aid, 1)
    )


def a_dbgettree(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    fam = m.get("Family", "")
    prefix = f"/{fam}/" + (m.get("Key", "") + "/" if m.get("Key") else "")
    items = sorted((k, v) for k, v in sim.pbx.db.items() if k.startswith(prefix))
    if not items:
        reply(s, aid, "Database entry not found", "Error")
        return
    parts = [response(aid, "Result will follow", eventlist=True)]
    parts += [list_event("DBGetTreeResponse", (("Key", k), ("Val", v)), aid) for k, v in items]
    parts.append(list_complete("DBGetTreeComplete", aid, len(items)))
    s.send(b"".join(parts))


def a_dbdel(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    k = f"/{m.get('Family', '')}/{m.get('Key', '')}"
    if sim.pbx.db.pop(k, None) is None:
        reply(s, aid, "Database entry could not be deleted", "Error")
        return
    reply(s, aid, "Key deleted successfully")


def a_dbdeltree(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    prefix = f"/{m.get('Family', '')}" + (f"/{m['Key']}" if m.get("Key") else "")
    keys = [k for k in sim.pbx.db if k == prefix or k.startswith(prefix + "/")]
    if not keys:
        reply(s, aid, "Database entry not found", "Error")
        return
    for k in keys:
        del sim.pbx.db[k]
    reply(s, aid, "Key tree deleted successfully")


# ---- Command ('queue show') -----------------------------------------------------------------
def a_command(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    cmd = m.get("Command", "").strip()
    lines: list[str]
    mt = re.fullmatch(r"queue show(?:\s+(\S+))?", cmd)
    if mt:
        lines = sim.queue_show(mt.group(1))
    elif cmd == "core show version":
        lines = ["Asterisk 22.10.1 (acd simulator)"]
    else:
        lines = [
            f"No such command '{cmd}' (type 'core show help {cmd.split(' ')[0]}' for other possible commands)"
        ]
    s.send(response(aid, "Command output follows", extra=[("Output", ln) for ln in lines]))


def a_coresettings(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    s.send(
        response(
            aid,
            None,
            extra=(
                ("AMIversion", "11.0.0"),
                ("AsteriskVersion", "22.10.1"),
                ("SystemName", ""),
                ("CoreMaxCalls", 0),
                ("CoreMaxLoadAvg", "0.000000"),
                ("CoreRunUser", "asterisk"),
                ("CoreRunGroup", "asterisk"),
                ("CoreMaxFilehandles", 0),
                ("CoreRealTimeEnabled", "No"),
                ("CoreCDRenabled", "Yes"),
                ("CoreHTTPenabled", "No"),
                ("SoundsSearchCustomDir", "No"),
            ),
        )
    )


def a_simfault(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    """Not an Asterisk action: the simulator's fault hook for tests driven over AMI only."""
    kind = m.get("Fault", "").lower()
    if kind not in ("drop", "drop-mid", "restart", "silent", "malformed", "unsilent"):
        reply(s, aid, "Fault must be drop, drop-mid, restart, silent, unsilent or malformed", "Error")
        return
    reply(s, aid, "Fault scheduled")
    sim.schedule_fault(kind, float(m.get("Seconds", "1") or "1"))


def _a(fn: Fn, auth: str, syn: str) -> Action:
    return Action(fn, frozenset(a for a in auth.split(",") if a), syn)


ACTIONS: dict[str, Action] = {
    "Ping": _a(a_ping, "", "Keepalive command."),
    "Events": _a(a_events, "", "Control Event Flow."),
    "Logoff": _a(a_logoff, "", "Logoff Manager."),
    "ListCommands": _a(a_listcommands, "", "List available manager commands."),
    "QueueStatus": _a(a_queuestatus, "", "Show queue status."),
    "QueueSummary": _a(a_queuesummary, "", "Show queue summary."),
    "CoreShowChannels": _a(a_coreshowchannels, "system,reporting", "List currently active channels."),
    "Status": _a(a_status, "system,call,reporting", "List channel status."),
    "QueueAdd": _a(a_queueadd, "agent", "Add interface to queue."),
    "QueueRemove": _a(a_queueremove, "agent", "Remove interface from queue."),
    "QueuePause": _a(a_queuepause, "agent", "Makes a queue member temporarily unavailable."),
    "QueuePenalty": _a(a_queuepenalty, "agent", "Set the penalty for a queue member."),
    "QueueWithdrawCaller": _a(
        a_queuewithdraw, "agent", "Request to withdraw a caller from the queue back to the dialplan."
    ),
    "Redirect": _a(a_redirect, "call", "Redirect (transfer) a call."),
    "BlindTransfer": _a(a_blindtransfer, "call", "Blind transfer channel(s) to the given destination"),
    "Atxfer": _a(a_atxfer, "call", "Attended transfer."),
    "QueueLog": _a(a_queuelog, "agent", "Adds custom entry in queue_log."),
    "Setvar": _a(a_setvar, "call", "Sets a channel variable or function value."),
    "Getvar": _a(a_getvar, "call,reporting", "Gets a channel variable or function value."),
    "Hangup": _a(a_hangup, "system,call", "Hangup channel."),
    "Originate": _a(a_originate, "originate", "Originate a call."),
    "UserEvent": _a(a_userevent, "user", "Send an arbitrary event."),
    "DBPut": _a(a_dbput, "system", "Put DB entry."),
    "DBGet": _a(a_dbget, "system,reporting", "Get DB Entry."),
    "DBGetTree": _a(a_dbgettree, "system,reporting", "Get DB entries, optionally at a particular family/key"),
    "DBDel": _a(a_dbdel, "system", "Delete DB entry."),
    "DBDelTree": _a(a_dbdeltree, "system", "Delete DB Tree."),
    "Command": _a(a_command, "command", "Execute Asterisk CLI Command."),
    "CoreSettings": _a(a_coresettings, "system,reporting", "Show PBX core settings (version etc)."),
    "SimFault": _a(a_simfault, "system", "acd simulator: inject a fault (not an Asterisk action)."),
}
LOWER = {k.lower(): k for k in ACTIONS}


def dispatch(sim: Simulator, s: Session, msg: dict[str, str]) -> None:
    """Route one client message: login first, then class checks, then the handler."""
    name = msg.get("Action", "")
    aid = msg.get("ActionID")
    low = name.lower()
    if low == "challenge":
        if msg.get("AuthType", "").lower() != "md5":
            reply(s, aid, "Must specify AuthType", "Error")
            return
        import random as _r

        s.challenge = str(_r.randrange(10**8, 10**9))
        s.send(response(aid, None, extra=(("Challenge", s.challenge),)))
        return
    if low == "login":
        sim.login(s, msg, aid)
        return
    if s.user is None:
        reply(s, aid, "Permission denied", "Error")
        sim.server.security(
            "RequestNotAllowed",
            s,
            (
                ("EventVersion", 1),
                ("AccountID", ""),
                ("SessionID", s.session_id),
                ("LocalAddress", s.local),
                ("RemoteAddress", s.remote),
                ("RequestType", f"Action: {name}"),
                ("SessionTV", s.session_tv),
            ),
        )
        return
    key = LOWER.get(low)
    if key is None:
        reply(
            s,
            aid,
            f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.",
            "Error",
        )
        sim.server.security(
            "RequestBadFormat",
            s,
            (
                ("EventVersion", 1),
                ("SessionID", s.session_id),
                ("LocalAddress", s.local),
                ("RemoteAddress", s.remote),
                ("RequestType", f"Action: {name}"),
                ("SessionTV", s.session_tv),
                ("AccountID", s.user.name),
            ),
        )
        return
    act = ACTIONS[key]
    if act.authority and not (act.authority & s.user.write):
        reply(s, aid, "Permission denied", "Error")
        sim.server.security(
            "RequestNotAllowed",
            s,
            (
                ("EventVersion", 1),
                ("AccountID", s.user.name),
                ("SessionID", s.session_id),
                ("LocalAddress", s.local),
                ("RemoteAddress", s.remote),
                ("RequestType", f"Action: {name}"),
                ("SessionTV", s.session_tv),
            ),
        )
        return
    act.fn(sim, s, msg, aid)


def scenario_script(patience: float | None, talk: float, kind: str, cause: int) -> CallScript:
    return CallScript(patience=patience, talk=talk, ending=Ending(kind, cause))


_ = time
