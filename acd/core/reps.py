"""Reps are people, not interfaces: who answers on (server, state interface). Pure.

``PJSIP/1001`` on server A and ``PJSIP/1001`` on server B may be two people, and one person may
work on both servers under two interfaces. Callback affinity is about the person: a caller cut off
by Alice on A who calls back through B should reach Alice if she is logged in on B, under her
interface there. The mapping is a text file (``ACD_REPS_FILE``), one line per interface::

    # server  state interface     rep     display name (optional, the rest of the line)
    a         PJSIP/1001          alice   Alice Martin
    b         PJSIP/2001          alice
    b         PJSIP/1001          bob     Bob Stone

A mistake is refused with the line that makes it: a line without three fields, an interface
named twice on one server, or one rep given two interfaces on one server (one person cannot sit
at two phones of one server: the mapping would be ambiguous for routing and credit).

Without a file every interface is its own rep on its own server only; a callback whose cut-off
happened on another server then goes to the shared queue (``fallback_other_server``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from acd.core.caller_history import PastCall

__all__ = ["RepDirectory", "RepLine", "RepMapError", "parse_reps"]


class RepMapError(ValueError):
    """A rep mapping that cannot be used, naming the line that makes it so."""


@dataclass(frozen=True, slots=True)
class RepLine:
    server: str
    interface: str
    rep: str
    name: str
    line: int


class RepDirectory:
    """Lookups both ways between (server, interface) and rep."""

    __slots__ = ("_by_iface", "_by_rep", "lines")

    def __init__(self, lines: Iterable[RepLine] = ()) -> None:
        self.lines = tuple(lines)
        self._by_iface: dict[tuple[str, str], RepLine] = {}
        self._by_rep: dict[tuple[str, str], RepLine] = {}
        for item in self.lines:
            same_iface = self._by_iface.get((item.server, item.interface))
            if same_iface is not None:
                raise RepMapError(
                    f"line {item.line}: {item.interface} on server {item.server} is already mapped "
                    f"to {same_iface.rep} (line {same_iface.line})"
                )
            same_rep = self._by_rep.get((item.rep, item.server))
            if same_rep is not None:
                raise RepMapError(
                    f"line {item.line}: rep {item.rep} is already mapped on server {item.server} "
                    f"(line {same_rep.line}: {same_rep.interface}); one person has one interface per server"
                )
            self._by_iface[(item.server, item.interface)] = item
            self._by_rep[(item.rep, item.server)] = item

    def __bool__(self) -> bool:
        return bool(self.lines)

    def rep_of(self, server: str, interface: str) -> RepLine | None:
        return self._by_iface.get((server, interface))

    def interface_on(self, rep: str, server: str) -> RepLine | None:
        return self._by_rep.get((rep, server))

    def interfaces(self, server: str) -> list[str]:
        """This server's mapped interfaces, in the file's order (``acd asterisk-config``)."""
        return [item.interface for item in self.lines if item.server == server]

    def localize(self, past: PastCall, here: str) -> tuple[PastCall, str | None]:
        """The past call as routing on ``here`` sees it: a call another server recorded is given
        the interface its rep has on this server; when that rep has none here, the other server
        comes back as the second value (the callback cannot go to that person from here)."""
        if not past.server or past.server == here or not past.agent:
            return past, None
        found = self.rep_of(past.server, past.agent)
        local = self.interface_on(found.rep, here) if found is not None else None
        if found is None or local is None:
            return past, past.server
        name = local.name or found.name or past.agent_name
        return replace(past, agent=local.interface, agent_name=name, server=""), None


def parse_reps(text: str) -> RepDirectory:
    """The directory a reps file describes; :class:`RepMapError` names the first bad line."""
    lines: list[RepLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        content = raw.split("#", 1)[0].strip()
        if not content:
            continue
        fields = content.split(None, 3)
        if len(fields) < 3:
            raise RepMapError(f"line {number}: expected `server interface rep [name]`, got {content!r}")
        server, interface, rep = fields[:3]
        if "/" not in interface:
            raise RepMapError(f"line {number}: {interface!r} is not a state interface (such as PJSIP/1001)")
        lines.append(RepLine(server, interface, rep, fields[3].strip() if len(fields) > 3 else "", number))
    return RepDirectory(lines)
