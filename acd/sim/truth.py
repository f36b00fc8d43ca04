"""The simulator's ground truth: one record per queue entry, as the call really went.

The end-to-end tests compare what acd stored and reported with these records (``--truth`` writes
them as JSON lines). A record opens when a caller joins a queue (:func:`open_record`), closes
when the entry ends (:func:`close_record`), and :class:`Truth` links it to the caller's earlier
calls as docs/architecture.md defines callbacks and repeat contacts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

from acd.sim.entities import Call

# Hang-up causes of a call that ended normally: any other cause of an answered call is a cut-off.
NORMAL_CAUSES = frozenset({16, 17, 19, 21})

TRUTH_KEYS = (
    "id",
    "queue",
    "caller",
    "agent",
    "interface",
    "outcome",
    "ended_by",
    "cut_off",
    "cause",
    "wait_seconds",
    "talk_seconds",
    "callback_of",
    "repeat_of",
    "joined_at",
)
CALLBACK_WINDOW = 3600.0
REPEAT_WINDOW = 86400.0


class Truth:
    """The simulator's own call records, linked as docs/architecture.md defines callbacks and repeats."""

    def __init__(self, path: Path | None = None):
        # kept in memory only without a file (tests, the Python API); a file run may last days
        self.records: list[dict[str, Any]] = []
        self._keep = path is None
        self._count = 0
        self._history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._fh: IO[str] | None = path.open("w", encoding="utf-8") if path else None

    def record(self, rec: dict[str, Any]) -> None:
        """Link the finished entry to this number's history, as docs/architecture.md defines the words:
        a repeat contact is an *answered* call followed by another call from the same number
        within 24 h; a callback is a new call within 60 min of an answered call's cut-off end.
        Only the most recent answered earlier call counts (unanswered ones are skipped)."""
        hist = self._history[rec["caller"]]
        joined = rec["joined_at"]
        callback = repeat = None
        for prev in reversed(hist):
            if prev["outcome"] != "answered" or prev["joined_at"] >= joined:
                continue
            age = joined - prev["ended_at"]
            if prev["cut_off"] and age <= CALLBACK_WINDOW:
                callback = prev["id"]
            elif age <= REPEAT_WINDOW:
                repeat = prev["id"]
            break
        rec["callback_of"] = callback
        rec["repeat_of"] = repeat
        hist.append({k: rec[k] for k in ("id", "outcome", "cut_off", "joined_at", "ended_at")})
        if len(hist) > 8:  # only the most recent answered call within 24 h can be linked
            del hist[0]
        self._count += 1
        if self._count % 1000 == 0:  # forget numbers whose last call is past every window
            horizon = joined - REPEAT_WINDOW - 3600.0
            for number in [n for n, h in self._history.items() if h[-1]["ended_at"] < horizon]:
                del self._history[number]
        out = {k: rec[k] for k in TRUTH_KEYS}
        if self._keep:
            self.records.append(out)
        if self._fh is not None:
            self._fh.write(json.dumps(out) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def open_record(call: Call, now: float) -> dict[str, Any]:
    """The record of ``call``'s queue entry as it joins the queue."""
    return {
        "id": call.entry_id,
        "queue": call.queue,
        "caller": call.number,
        "agent": None,
        "interface": None,
        "outcome": None,
        "ended_by": None,
        "cut_off": False,
        "cause": None,
        "wait_seconds": 0.0,
        "talk_seconds": 0.0,
        "callback_of": None,
        "repeat_of": None,
        "joined_at": round(now, 3),
    }


def close_record(
    rec: dict[str, Any],
    outcome: str,
    ended_by: str | None,
    cause: int | None,
    now: float,
    wait: float | None = None,
    talk: float = 0.0,
    restart: bool = False,
) -> dict[str, Any]:
    """Close ``rec`` (in place) as the entry ends: an answered call is cut off when a restart or
    an abnormal cause ended it."""
    rec["outcome"] = outcome
    rec["ended_by"] = ended_by
    rec["cause"] = cause
    if wait is not None:
        rec["wait_seconds"] = round(wait, 3)
    rec["talk_seconds"] = round(talk, 3)
    rec["cut_off"] = outcome == "answered" and (restart or (cause is not None and cause not in NORMAL_CAUSES))
    rec["ended_at"] = round(now, 3)
    rec.pop("rung", None)
    rec.pop("_rung", None)
    return rec
