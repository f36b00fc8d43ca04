"""Asterisk's queue_log as facts: text lines in, one summary per queue entry out. Pure: no files.

queue_log is Asterisk's own record of every queue entry, written whether acd is running or not, so
it fills acd's blind spots (acd stopped, AMI down). What it says, and what it cannot say (app_queue
in Asterisk 22, and the captures in tests/fixtures/ami):

- A line is ``epoch|callid|queue|agent|EVENT|data...``; ``callid`` is the caller channel's
  Uniqueid, the time is whole seconds. One queue entry begins at ENTERQUEUE
  (``url|callerid|position[|name]``); later lines of the same callid and queue belong to it.
- The agent field is the member's *name* for CONNECT, COMPLETE*, RINGNOANSWER, RINGCANCELED and
  transfers, its *interface* only for ADDMEMBER/REMOVEMEMBER/PENALTY (acd maps names to agents
  through its own member table).
- CONNECT ``holdtime|agent channel uniqueid|ringtime``; COMPLETECALLER/COMPLETEAGENT
  ``holdtime|talktime|position``; BLINDTRANSFER ``exten|context|holdtime|talktime|position``;
  ATTENDEDTRANSFER ``<how, itself holding '|'>|holdtime|talktime|position``; ABANDON, EXITEMPTY,
  EXITWITHTIMEOUT ``position|original position|waittime``; EXITWITHKEY ``key|position|...``;
  WITHDRAW ``position|original position|waittime|info``; RINGNOANSWER/RINGCANCELED milliseconds.
- No Linkedid, no hang-up cause. COMPLETECALLER is also what Asterisk logs when the agent's leg was
  hung up over AMI, so it does not say who ended the call; COMPLETEAGENT does, except in a shutdown.
- ABANDON is logged for any hang-up while waiting, Asterisk's own shutdown included, and for an AMI
  Redirect out of Queue(). QUEUESTART marks Asterisk (re)starting.

The numbering of entries follows acd's: the n-th ENTERQUEUE of a callid is its entry n.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from acd.core.events import _int

__all__ = [
    "ANSWER_ENDS",
    "EXIT_REASONS",
    "QlEntry",
    "QlLine",
    "QlOffer",
    "QueueLogFacts",
    "parse_line",
    "read_facts",
]

ANSWER_ENDS = frozenset({"COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER", "ATTENDEDTRANSFER"})
EXIT_REASONS = {
    "EXITWITHTIMEOUT": "timeout",
    "EXITEMPTY": "empty",
    "EXITWITHKEY": "key",
    "WITHDRAW": "withdraw",
}
_WAITING_ENDS = frozenset({"ABANDON", *EXIT_REASONS})
_ENTRY_EVENTS = frozenset({"CONNECT", "RINGNOANSWER", "RINGCANCELED", *ANSWER_ENDS, *_WAITING_ENDS})


@dataclass(frozen=True, slots=True)
class QlLine:
    at: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QlOffer:
    """One ring that did not connect: RINGNOANSWER (no answer) or RINGCANCELED (caller gone)."""

    agent_name: str
    at: int
    ring_ms: int
    result: str  # "no_answer" | "cancelled"


@dataclass(slots=True)
class QlEntry:
    """One queue entry as queue_log tells it. ``None`` means queue_log did not say."""

    callid: str
    queue: str
    number: int | None  # the n-th ENTERQUEUE of this callid; None: its ENTERQUEUE was not read
    entered: int | None
    caller: str | None = None
    caller_name: str | None = None
    url: str = ""
    position: int | None = None
    connected_at: int | None = None
    agent_name: str | None = None
    agent_uid: str | None = None  # the answering agent channel's Uniqueid (CONNECT)
    hold: int | None = None  # seconds waited (CONNECT, the COMPLETE*/transfer lines, exits)
    ring: int | None = None
    ended_at: int | None = None
    end: str | None = None  # the event that ended it (COMPLETECALLER, ABANDON, EXITEMPTY...)
    talk: int | None = None
    transfer: str | None = None  # BLINDTRANSFER exten@context, ATTENDEDTRANSFER how
    offers: list[QlOffer] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.connected_at is not None or self.end in ANSWER_ENDS

    @property
    def key(self) -> tuple[str, str]:
        return self.callid, self.queue


@dataclass(frozen=True, slots=True)
class QueueLogFacts:
    entries: tuple[QlEntry, ...]
    restarts: tuple[int, ...]  # QUEUESTART times: Asterisk (re)started
    lines: int
    unreadable: int  # lines that are not queue_log lines (counted, skipped)
    first_at: int | None
    last_at: int | None

    def ended_between(self, start: float, end: float) -> list[QlEntry]:
        return [e for e in self.entries if e.ended_at is not None and start <= e.ended_at <= end]


def parse_line(text: str) -> QlLine | None:
    """One line, or None when it is not a queue_log line (blank, truncated, no epoch)."""
    parts = text.rstrip("\r\n").split("|")
    if len(parts) < 5:
        return None
    at = _int(parts[0])
    if at is None or not parts[4]:
        return None
    return QlLine(at, parts[1], parts[2], parts[3], parts[4], tuple(parts[5:]))


def _datum(data: tuple[str, ...], index: int) -> str | None:
    return data[index] if -len(data) <= index < len(data) else None


def read_facts(lines: Iterable[str]) -> QueueLogFacts:
    """Every queue entry the lines describe, in the order they entered."""
    entries: list[QlEntry] = []
    latest: dict[tuple[str, str], QlEntry] = {}
    enters: dict[str, int] = {}
    restarts: list[int] = []
    count = unreadable = 0
    first_at: int | None = None
    last_at: int | None = None
    for text in lines:
        if not text.strip():
            continue
        count += 1
        line = parse_line(text)
        if line is None:
            unreadable += 1
            continue
        first_at = line.at if first_at is None else first_at
        last_at = line.at if last_at is None or line.at > last_at else last_at
        if line.event == "QUEUESTART":
            restarts.append(line.at)
            continue
        if line.callid in ("NONE", "MANAGER", "REALTIME", "CLI", "") or line.queue in ("NONE", ""):
            continue  # member, pause and system lines: not a queue entry
        key = (line.callid, line.queue)
        d = line.data
        if line.event == "ENTERQUEUE":
            n = enters.get(line.callid, 0) + 1
            enters[line.callid] = n
            entry = QlEntry(
                line.callid,
                line.queue,
                n,
                line.at,
                caller=_datum(d, 1) or None,
                caller_name=_datum(d, 3) or None,
                url=_datum(d, 0) or "",
                position=_int(_datum(d, 2)),
            )
            entries.append(entry)
            latest[key] = entry
            continue
        if line.event not in _ENTRY_EVENTS:
            continue  # DISPOSITION, INFO, DID and other custom lines: not about the entry's course
        found = latest.get(key)
        if found is not None and found.end is None:
            entry = found
        else:
            # The entry began before these lines (the read started mid-call), or a second entry's
            # ENTERQUEUE was not read: what is known is kept, without an entry number.
            entry = QlEntry(line.callid, line.queue, None, None)
            entries.append(entry)
            latest[key] = entry
        _apply(entry, line)
    for e in entries:
        if e.entered is None:
            e.entered = _infer_entered(e)
    return QueueLogFacts(tuple(entries), tuple(restarts), count, unreadable, first_at, last_at)


def _apply(entry: QlEntry, line: QlLine) -> None:
    event, d, at = line.event, line.data, line.at
    if event == "CONNECT":
        entry.connected_at = at
        entry.agent_name = line.agent
        entry.hold = _int(_datum(d, 0))
        entry.agent_uid = _datum(d, 1) or None
        entry.ring = _int(_datum(d, 2))
    elif event in ("COMPLETECALLER", "COMPLETEAGENT"):
        entry.ended_at, entry.end = at, event
        entry.agent_name = entry.agent_name or line.agent
        entry.hold = _int(_datum(d, 0)) if entry.hold is None else entry.hold
        entry.talk = _int(_datum(d, 1))
    elif event == "BLINDTRANSFER":
        entry.ended_at, entry.end = at, event
        entry.agent_name = entry.agent_name or line.agent
        entry.transfer = f"{_datum(d, 0) or ''}@{_datum(d, 1) or ''}"
        entry.hold = _int(_datum(d, 2)) if entry.hold is None else entry.hold
        entry.talk = _int(_datum(d, 3))
    elif event == "ATTENDEDTRANSFER":
        # The first fields say how (BRIDGE|<uuid>, APP|<app>, LINK|<a>|<b>): read from the end.
        entry.ended_at, entry.end = at, event
        entry.agent_name = entry.agent_name or line.agent
        entry.transfer = "|".join(d[:-3]) if len(d) > 3 else None
        entry.hold = _int(_datum(d, -3)) if entry.hold is None else entry.hold
        entry.talk = _int(_datum(d, -2))
    elif event in _WAITING_ENDS:
        if entry.end is not None:
            return
        entry.ended_at, entry.end = at, event
        offset = 1 if event == "EXITWITHKEY" else 0
        entry.hold = _int(_datum(d, offset + 2))
        if event == "ABANDON" and line.agent not in ("NONE", ""):
            # The caller hung up in the instant an agent answered: Asterisk names the member.
            entry.agent_name = None
    elif event in ("RINGNOANSWER", "RINGCANCELED"):
        ms = _int(_datum(d, 0)) or 0
        entry.offers.append(
            QlOffer(line.agent, at, ms, "no_answer" if event == "RINGNOANSWER" else "cancelled")
        )


def _infer_entered(e: QlEntry) -> int | None:
    """A headless entry's arrival from its own durations, when they say."""
    if e.connected_at is not None and e.hold is not None:
        return e.connected_at - e.hold
    if e.ended_at is not None and e.hold is not None:
        return e.ended_at - (e.talk or 0) - e.hold
    return None
