"""Wire rendering: call phases from the capture templates, and the other events and responses.

Header names and order follow tests/fixtures/ami byte for byte (the conformance test checks it).
Every message is rendered once into bytes and then shared by all sessions that may read it, so
a 50,000-event burst or a 10,000-member QueueStatus costs one format per message.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Mapping
from importlib.resources import files

# name -> [[event, class, format string, flags], ...], cut from tests/fixtures/ami by
# scripts/gen_templates.py (tests/test_sim_templates.py checks the file is what the captures give).
PHASES: dict[str, list[tuple[str, str, str, str]]] = {
    name: [(ev, cls, fmt, flags) for ev, cls, fmt, flags in temps]
    for name, temps in json.loads(
        files("acd.sim").joinpath("templates.json").read_text(encoding="utf-8")
    ).items()
}

Out = tuple[str, bytes]  # (event class for read filtering, encoded message); class "" = always

CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    27: "Destination out of order",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    44: "Requested channel not available",
}


class Phase:
    """One compiled template: (event, class, format string, role of a QueueMemberStatus or '')."""

    __slots__ = ("items",)

    def __init__(self, raw: Iterable[tuple[str, str, str, str]]):
        items: list[tuple[str, str, str, str, str]] = []
        for ev, cls, fmt, flags in raw:
            role = ""
            if ev == "QueueMemberStatus":
                role = "b" if "{b_name}" in fmt else "a"
            items.append((ev, cls, fmt, flags, role))
        self.items = items

    def fields(self) -> set[str]:
        out: set[str] = set()
        for _, _, fmt, _, _ in self.items:
            out.update(f for _, f, _, _ in string.Formatter().parse(fmt) if f)
        return out


COMPILED: dict[str, Phase] = {name: Phase(raw) for name, raw in PHASES.items()}


def ts_header(now: float | None) -> str:
    return "" if now is None else f"Timestamp: {now:.6f}\r\n"


def event(name: str, cls: str, pairs: Iterable[tuple[str, object]], ts: str = "") -> Out:
    """A broadcast event: ``Event``, ``Privilege: <class>,all``, optional Timestamp, then the body."""
    body = "".join(f"{k}: {v}\r\n" for k, v in pairs)
    return cls, f"Event: {name}\r\nPrivilege: {cls},all\r\n{ts}{body}\r\n".encode()


def list_event(
    name: str, pairs: Iterable[tuple[str, object]], action_id: str | None, first: bool = False
) -> bytes:
    """An event answering a list action: no Privilege, ActionID last (or second, ``first=True``)."""
    aid = f"ActionID: {action_id}\r\n" if action_id is not None else ""
    body = "".join(f"{k}: {v}\r\n" for k, v in pairs)
    if first:
        return f"Event: {name}\r\n{aid}{body}\r\n".encode()
    return f"Event: {name}\r\n{body}{aid}\r\n".encode()


def list_complete(
    name: str, action_id: str | None, count: int, extra: Iterable[tuple[str, object]] = ()
) -> bytes:
    aid = f"ActionID: {action_id}\r\n" if action_id is not None else ""
    more = "".join(f"{k}: {v}\r\n" for k, v in extra)
    return f"Event: {name}\r\n{aid}EventList: Complete\r\nListItems: {count}\r\n{more}\r\n".encode()


def response(
    action_id: str | None,
    message: str | None = None,
    status: str = "Success",
    eventlist: bool = False,
    extra: Iterable[tuple[str, object]] = (),
) -> bytes:
    """``Response``, ``ActionID`` (when the action had one), ``EventList: start``, ``Message``, extras."""
    parts = [f"Response: {status}\r\n"]
    if action_id is not None:
        parts.append(f"ActionID: {action_id}\r\n")
    if eventlist:
        parts.append("EventList: start\r\n")
    if message is not None:
        parts.append(f"Message: {message}\r\n")
    parts.extend(f"{k}: {v}\r\n" for k, v in extra)
    parts.append("\r\n")
    return "".join(parts).encode()


def render_phase(
    name: str,
    ctx: Mapping[str, object],
    qms: Mapping[str, list[Out]] | None = None,
    include_orig: bool = False,
) -> list[Out]:
    """Fill a phase's templates. QueueMemberStatus lines are replaced by ``qms[role]`` (one event
    per queue the member belongs to, built from the PBX state); OriginateResponse only when the call
    was originated over AMI."""
    out: list[Out] = []
    for _ev, cls, fmt, flags, role in COMPILED[name].items:
        if role:
            if qms is not None:
                out.extend(qms.get(role, ()))
            continue
        if flags == "orig" and not include_orig:
            continue
        out.append((cls, fmt.format_map(ctx).encode()))
    return out


MEMBER_HEADERS = (
    "Queue",
    "MemberName",
    "Interface",
    "StateInterface",
    "Membership",
    "Penalty",
    "CallsTaken",
    "LastCall",
    "LastPause",
    "LoginTime",
    "InCall",
    "Status",
    "Paused",
    "PausedReason",
    "Ringinuse",
    "Wrapuptime",
)
