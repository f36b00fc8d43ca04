"""AMI actions, answered with the texts and list framing the captures show: the table of every
action with its write classes, and the routing of one client message. The bodies are by kind:
``session`` (Challenge, Login, Logoff, Events, Ping), ``queues``, ``channels`` and ``system``.

Each action has the write classes Asterisk registers it with; a session lacking all of them gets
``Permission denied`` and a ``RequestNotAllowed`` security event, as on Asterisk. The response is
written before the events the action causes, as in the captures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from acd.sim.actions.channels import (
    a_atxfer,
    a_blindtransfer,
    a_coreshowchannels,
    a_getvar,
    a_hangup,
    a_originate,
    a_redirect,
    a_setvar,
    a_status,
)
from acd.sim.actions.queues import (
    a_queueadd,
    a_queuelog,
    a_queuepause,
    a_queuepenalty,
    a_queueremove,
    a_queuestatus,
    a_queuesummary,
    a_queuewithdraw,
)
from acd.sim.actions.session import a_events, a_logoff, a_ping, challenge, login
from acd.sim.actions.system import (
    a_command,
    a_coresettings,
    a_dbdel,
    a_dbdeltree,
    a_dbget,
    a_dbgettree,
    a_dbput,
    a_simfault,
    a_userevent,
)
from acd.sim.emit import response
from acd.sim.server import Session, reply

if TYPE_CHECKING:
    from acd.sim.simulator import Simulator

Fn = Callable[["Simulator", Session, dict[str, str], "str | None"], None]


@dataclass(frozen=True)
class Action:
    fn: Fn
    authority: frozenset[str]
    synopsis: str


def a_listcommands(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    assert s.user is not None
    extra = []
    for name, act in ACTIONS.items():
        if not act.authority or act.authority & s.user.write:
            priv = ",".join(sorted(act.authority)) + ",all" if act.authority else "<none>"
            extra.append((name, f"{act.synopsis}  (Priv: {priv})"))
    s.send(response(aid, None, extra=extra))


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
        challenge(sim, s, msg, aid)
        return
    if low == "login":
        login(sim, s, msg, aid)
        return
    if s.user is None:
        _not_allowed(sim, s, aid, name, "")
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
        _not_allowed(sim, s, aid, name, s.user.name)
        return
    act.fn(sim, s, msg, aid)


def _not_allowed(sim: Simulator, s: Session, aid: str | None, name: str, account: str) -> None:
    """Permission denied, and the RequestNotAllowed security event Asterisk raises with it."""
    reply(s, aid, "Permission denied", "Error")
    sim.server.security(
        "RequestNotAllowed",
        s,
        (
            ("EventVersion", 1),
            ("AccountID", account),
            ("SessionID", s.session_id),
            ("LocalAddress", s.local),
            ("RemoteAddress", s.remote),
            ("RequestType", f"Action: {name}"),
            ("SessionTV", s.session_tv),
        ),
    )
