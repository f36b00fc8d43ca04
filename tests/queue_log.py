"""Asterisk's own queue_log, parsed: the independent record replay results are checked against.

Line format (epoch seconds): ``time|callid|queue|agent|EVENT|data1|data2|...``; ``callid`` is the
caller channel's Uniqueid. One entry per ENTERQUEUE, in order; later lines with the same callid
and queue belong to the latest open entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_EVENTS = {
    "EXITWITHTIMEOUT": "timeout",
    "EXITEMPTY": "empty",
    "EXITWITHKEY": "key",
    "WITHDRAW": "withdraw",
}


@dataclass
class QlEntry:
    callid: str
    queue: str
    caller: str
    entered: int
    outcome: str | None = None  # answered | abandoned | exited
    exit_event: str | None = None
    agent: str | None = None
    holdtime: int | None = None
    talktime: int | None = None
    end_event: str | None = None  # COMPLETECALLER | COMPLETEAGENT | BLINDTRANSFER | ATTENDEDTRANSFER


def parse_queue_log(path: Path) -> list[QlEntry]:
    entries: list[QlEntry] = []
    open_by: dict[tuple[str, str], QlEntry] = {}
    for line in path.read_text().splitlines():
        parts = line.split("|")
        if len(parts) < 5:
            continue
        ts, callid, queue, agent, event, *data = parts
        key = (callid, queue)
        if event == "ENTERQUEUE":
            entry = QlEntry(callid, queue, data[1] if len(data) > 1 else "", int(ts))
            entries.append(entry)
            open_by[key] = entry
            continue
        entry = open_by.get(key)
        if entry is None:
            continue
        if event == "CONNECT":
            entry.outcome, entry.agent, entry.holdtime = "answered", agent, int(data[0])
        elif event in ("COMPLETECALLER", "COMPLETEAGENT"):
            entry.holdtime, entry.talktime, entry.end_event = int(data[0]), int(data[1]), event
        elif event == "BLINDTRANSFER" or event == "ATTENDEDTRANSFER":
            entry.holdtime, entry.talktime, entry.end_event = int(data[2]), int(data[3]), event
        elif event == "ABANDON":
            entry.outcome, entry.exit_event, entry.holdtime = "abandoned", event, int(data[2])
        elif event in EXIT_EVENTS:
            entry.outcome, entry.exit_event = "exited", event
            entry.holdtime = int(data[2]) if len(data) > 2 and data[2].isdigit() else None
    return entries
