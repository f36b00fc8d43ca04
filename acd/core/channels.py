"""Channels and what happens to them: the signals that tell who ended a call and when it is over.

Rules (the captures in tests/fixtures/ami are the reference):
- Every channel acd sees is tracked until it hangs up and no live entry needs it (its cause goes
  into the entry's record). Two halves of a Local channel are paired (``LocalBridge``, or the
  resync snapshot's names): a hang-up of either half is its side's.
- After ``AgentConnect`` every ``BridgeLeave``, ``SoftHangupRequest``, ``HangupRequest`` and
  ``Hangup`` on the call's channels is kept as a ``Signal`` of its side (classify.py reads them);
  a new channel or a signal on another channel of the customer call is a new leg (``other``).
- A completed entry is recorded once all its channels hung up; an adopted call whose channels
  all hung up before its AgentComplete waits a moment for it (queue_entries.py).
- A caller who left the queue and then hangs up abandoned; one that dials on did not.
- ``SoftHangupRequest`` with the shutdown flag marks a waiting caller as taken by Asterisk's
  shutdown, not abandoned.
"""

from __future__ import annotations

from acd.core import events as ev
from acd.core.classify import SHUTDOWN_FLAG, Signal
from acd.core.effects import Effect
from acd.core.entities import Channel
from acd.core.queue_entries import QueueEntries

__all__ = ["local_bridge", "new_channel", "signal", "transfer"]


def new_channel(calls: QueueEntries, e: ev.NewChannel, now: float, out: list[Effect]) -> None:
    if not e.uniqueid:
        return
    reg = calls.reg
    known = reg.channels.get(e.uniqueid)
    if known is None:
        reg.add_channel(Channel(e.uniqueid, e.channel, e.linkedid, e.caller_num, e.caller_name))
    elif not known.name and e.linkedid and known.linkedid != e.linkedid:
        reg.name_placeholder(known, e.channel, e.linkedid)
    entry = reg.by_linkedid.get(e.linkedid)
    if entry is not None and e.uniqueid not in entry.caller_uids and e.uniqueid not in entry.agent_uids:
        entry.signals.append(Signal("NewLeg", "other"))
    pending = reg.leaving.get(e.linkedid)
    if pending is not None and pending.state == "leaving" and e.uniqueid not in pending.caller_uids:
        calls.settle_exit(pending, now, out, hung_up=False)  # it is dialling on: not an abandon


def local_bridge(calls: QueueEntries, e: ev.LocalBridge, now: float, out: list[Effect]) -> None:
    one, two = calls.reg.channels.get(e.one), calls.reg.channels.get(e.two)
    if one is not None and two is not None:
        calls.reg.pair(one, two)


def signal(calls: QueueEntries, e: ev.ChannelSignal, now: float, out: list[Effect]) -> None:
    reg = calls.reg
    uid = e.uniqueid
    chan = reg.channels.get(uid)
    kind = e.kind
    if chan is not None and kind != "BridgeLeave":
        if kind != "SoftHangupRequest" and e.cause is not None and (e.cause != 0 or chan.cause is None):
            chan.cause = e.cause  # SoftHangupRequest's Cause is a flag, not Q.850
        if kind == "Hangup":
            chan.hung_up = True
            reg.channel_ended(uid)
        else:
            chan.hangup_requested = True
    watched = reg.watch.get(uid)
    if watched is not None:
        entry, side = watched
        cause = None if kind == "SoftHangupRequest" else e.cause
        entry.signals.append(Signal(kind, side, e.cause if kind == "SoftHangupRequest" else cause))
        if kind == "Hangup" and reg.all_hung_up(entry):
            if entry.state == "completed":
                calls.finish(entry, now, out)
            elif entry.partial and entry.state == "connected" and entry.hung_up_at is None:
                calls.await_complete(entry, now, out)
    elif kind != "BridgeLeave":
        if kind == "SoftHangupRequest" and e.cause == SHUTDOWN_FLAG:
            queued = reg.by_uniqueid.get(uid)
            if queued is None and chan is not None and chan.partner:
                queued = reg.by_uniqueid.get(chan.partner)
            if queued is not None:
                queued.shutdown = True
        linked = reg.by_linkedid.get(e.linkedid) if e.linkedid else None
        if linked is not None and uid not in linked.caller_uids and uid not in linked.agent_uids:
            linked.signals.append(Signal(kind, "other", None))
        waiting = reg.by_uniqueid.get(uid)
        if waiting is None and chan is not None and chan.partner:
            waiting = reg.by_uniqueid.get(chan.partner)
        if waiting is not None and waiting.state == "leaving":
            calls.settle_exit(waiting, now, out, hung_up=True)
    if kind == "Hangup":
        reg.forget_channel(uid)


def transfer(calls: QueueEntries, e: ev.Transfer, now: float, out: list[Effect]) -> None:
    reg = calls.reg
    for uid in (e.transferer_uniqueid, e.transferee_uniqueid):
        watched = reg.watch.get(uid)
        if watched is not None:
            entry = watched[0]
            entry.transferred = True
            entry.transfer_target = e.kind
            if entry.state == "completed":
                calls.finish(entry, now, out)
            return
    linked = reg.by_linkedid.get(e.linkedid)
    if linked is not None:
        linked.transferred = True
        linked.transfer_target = e.kind
