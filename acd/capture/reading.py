"""Reading a raw AMI capture: its messages, whether a file is one at all, and the date of each event.

A capture is the byte stream of one AMI connection (banner first, CRLF framing), exactly as
recorded. Events carry no clock unless Asterisk had ``timestampevents`` on, so :class:`ReplayClock`
dates them: the ``Timestamp`` header when present, else the creation epoch embedded in the
Uniqueids the event names (``1795878915.2`` was created at 1795878915), never going backwards,
plus one millisecond per event so that order is kept. Durations never come from this clock: the
core takes wait, talk and ring times from Asterisk's own ``HoldTime``/``TalkTime``/``RingTime``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from acd.ami.codec import Framer

__all__ = ["ReplayClock", "capture_problem", "iter_messages"]

_ID_HEADERS = ("Uniqueid", "Linkedid", "DestUniqueid")
_STEP = 0.001


class ReplayClock:
    """Event time for a capture: Asterisk's ``Timestamp``, else the Uniqueid epochs, shifted so the
    first dated event falls on ``start`` when one is given."""

    def __init__(self, start: float | None = None) -> None:
        self.start = start
        self._offset: float | None = None
        self.now = start if start is not None else 0.0

    def __call__(self, headers: dict[str, str]) -> float:
        raw = _timestamp(headers)
        if raw is None:
            for name in _ID_HEADERS:
                value = headers.get(name)
                if value:
                    head = value.rpartition("-")[2].partition(".")[0]  # "<systemname>-" first
                    if head.isdigit():
                        epoch = float(head)
                        if raw is None or epoch > raw:
                            raw = epoch
        if raw is None:
            t = self.now + _STEP  # nothing dated yet, or an undated event: keep order
        else:
            if self._offset is None:
                self._offset = (self.start - raw) if self.start is not None else 0.0
            t = raw + self._offset
        if t <= self.now:
            t = self.now + _STEP
        self.now = t
        return t


def _timestamp(headers: dict[str, str]) -> float | None:
    value = headers.get("Timestamp")
    if not value or "Event" not in headers:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def iter_messages(
    path: Path,
    chunk_size: int = 1 << 20,
    framer: Framer | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[dict[str, str]]:
    framer = framer or Framer()
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            if not chunk:
                break
            yield from framer.feed(chunk)
            if progress is not None:
                progress(len(chunk))


def capture_problem(path: Path, sample: int = 1 << 16) -> str | None:
    """Why ``path`` is not a raw AMI capture, or None when it looks like one: it starts with the AMI
    banner, or its first ``sample`` bytes hold at least one event. A text file fed to the replay
    would otherwise come out as "0 calls, 424 anomalies" and exit 0."""
    with path.open("rb") as fh:
        head = fh.read(sample)
    if not head:
        return "the file is empty"
    framer = Framer()
    messages = framer.feed(head)
    if framer.banner is not None or any("Event" in m for m in messages):
        return None
    return (
        "not a raw AMI capture (no 'Asterisk Call Manager/' banner and no 'Event:' message in "
        f"its first {min(len(head), sample) // 1024 or 1} KB)"
    )
