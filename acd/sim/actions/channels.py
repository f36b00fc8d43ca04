"""The channel actions: CoreShowChannels and Status, Hangup, Redirect, BlindTransfer, Atxfer,
Setvar and Getvar (variables, functions such as ``CURL()``, ``DEVICE_STATE()``), Originate."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from acd.sim import app_queue, dialplan_calls, endings, hangups, transfers
from acd.sim.call_states import QUEUED
from acd.sim.channel_functions import channel_builtins, channel_env
from acd.sim.dialplan import DialplanError
from acd.sim.emit import Out, event, list_complete, list_event, response
from acd.sim.entities import FOREVER, Call, CallScript, Channel, Ending
from acd.sim.expressions import substitute
from acd.sim.server import Session, reply
from acd.sim.state_events import device_state_change, member_status

if TYPE_CHECKING:
    from acd.sim.simulator import Simulator


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
    redirect(sim, name, m.get("Context", ""), m.get("Exten", ""), m.get("Priority", "1"))


def redirect(sim: Simulator, name: str, context: str, exten: str, priority: str) -> None:
    ch = sim.pbx.channels.get(name)
    if ch is None or ch.call is None:
        return
    call = ch.call
    if sim.interp is not None and context in sim.interp.dp.contexts and ch.role == "c1":
        sim.interp.cancel(call)
        call.on_leave = None
        if call.state in QUEUED:
            endings.queue_leave(sim.pbx, call, "REDIRECT")
        if call.state == "dialplan":
            prio = int(priority) if priority.isdigit() else 1
            sim.interp.start(call, context, exten, prio)
            return
    if call.state in QUEUED and ch.role == "c1":
        endings.leave(sim.pbx, call, "ABANDON")  # Asterisk logs a Redirect out as ABANDON
        target = exten if exten in sim.pbx.queues else (context if context in sim.pbx.queues else None)
        if target is not None:
            # The redirected channel runs dialplan again and enters another queue entry.
            sim.pbx.calls[call.ch1] = call
            sim.pbx.channels[call.ch1] = Channel(
                call.ch1,
                call.uid1,
                call.uid1,
                "inbound",
                call.number,
                6,
                "Queue",
                f"{target},t,,,300",
                call.number,
                call.name,
                call.number,
                call.name,
                call.created,
                call=call,
                role="c1",
            )
            app_queue.join(sim.pbx, call, target)
    elif call.state == "bridged":
        call.script.ending = Ending("transfer", 16, transfer_exten=exten or "2000")
        endings.end_call(sim.pbx, call, "transfer")


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
        set_channel_var(sim, ch, var, value)
        return
    reply(s, aid, "Variable Set")
    dev = re.fullmatch(r"DEVICE_STATE\((.+)\)", var)
    if dev:
        set_device_state(sim, dev.group(1), value)
    else:
        sim.pbx.globals[var] = value


def set_channel_var(sim: Simulator, ch: Channel, var: str, value: str) -> None:
    ch.variables[var] = value
    if var == "QUEUE_PRIO" and ch.call is not None:
        with contextlib.suppress(ValueError):
            ch.call.priority = int(value)


def set_device_state(sim: Simulator, device: str, value: str) -> None:
    state = {"NOT_INUSE": 1, "INUSE": 2, "BUSY": 3, "UNAVAILABLE": 5, "RINGING": 6, "ONHOLD": 8}.get(
        value.upper(), 1
    )
    outs: list[Out] = []
    for dev in sim.pbx.devices.values():
        if dev.stateif == device:
            dev.forced = state
            outs.extend(member_status(sim.pbx, dev.iface))
    outs.append(device_state_change(sim.pbx, device, value.upper()))
    sim.broadcast(outs)
    sim.pbx.dispatch()


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
            value = await read_function(sim, ch, var)
            s.send(response(aid, None, extra=(("Variable", var), ("Value", value))))

        sim.spawn(answer())
        return
    value = get_channel_var(sim, ch, var) if ch is not None else sim.pbx.globals.get(var, "")
    s.send(response(aid, None, extra=(("Variable", var), ("Value", value))))


async def read_function(sim: Simulator, ch: Channel | None, expr: str) -> str:
    """``Getvar`` of a function (``CURL(...)``, ``HASH(a,b)``...) as manager.c does it: on the
    channel when one is named, else on a dummy channel with no variables."""

    def announce(name: str, value: str) -> None:
        if ch is not None:
            sim.broadcast(
                [
                    event(
                        "VarSet",
                        "dialplan",
                        [
                            ("Channel", ch.name),
                            ("Uniqueid", ch.uid),
                            ("Variable", name),
                            ("Value", value),
                        ],
                        sim.ts(),
                    )
                ]
            )

    env = channel_env(sim, ch, announce)
    try:
        return await substitute("${" + expr + "}", env, "Getvar")
    except DialplanError as err:
        sim.log_asterisk("WARNING", str(err))
        return ""


def get_channel_var(sim: Simulator, ch: Channel, var: str) -> str:

    if var in ch.variables:
        return ch.variables[var]
    return channel_builtins(ch).get(var, "")


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
    queue = queue_for(sim, m.get("Context", ""), m.get("Exten", ""))
    variables = {}
    for item in m.get("Variable", "").replace(",", "\n").split("\n"):
        k, eq, v = item.partition("=")
        if eq:
            variables[k.strip()] = v
    prio = m.get("Priority", "1")
    originate(
        sim,
        number,
        queue,
        orig_actionid=aid or "",
        context=m.get("Context", ""),
        exten=m.get("Exten", ""),
        priority=int(prio) if prio.isdigit() else 1,
        variables=variables,
    )


# ---- what actions change ----------------------------------------------------------------
def queue_for(sim: Simulator, context: str, exten: str) -> str:
    if exten in sim.pbx.queues:
        return exten
    if context in sim.pbx.queues:
        return context
    return next(iter(sim.pbx.queues))


def originate(
    sim: Simulator,
    number: str,
    queue: str,
    orig_actionid: str | None = None,
    context: str = "",
    exten: str = "",
    priority: int = 1,
    variables: dict[str, str] | None = None,
) -> Call | None:
    """AMI Originate of a caller: through the dialplan when one is loaded and has the
    context, else straight into ``queue`` (the built-in inbound -> Queue())."""
    script = CallScript(patience=None, talk=FOREVER, orig_actionid=orig_actionid)
    if sim.interp is not None and context in sim.interp.dp.contexts:
        call = dialplan_calls.new_channel(sim.pbx, number, script)
        sim.pbx.channels[call.ch1].variables.update(variables or {})
        sim.interp.start(call, context, exten or number, priority)
        return call
    return app_queue.new_call(sim.pbx, number, queue, script)
