"""Offline replay: a raw AMI capture through the same framing and core the daemon uses.

A capture is the byte stream of one AMI connection (banner first, CRLF framing), exactly as
recorded. Events carry no clock unless Asterisk had ``timestampevents`` on, so :class:`ReplayClock`
dates them: the ``Timestamp`` header when present, else the creation epoch embedded in the
Uniqueids the event names (``1795878915.2`` was created at 1795878915), never going backwards,
plus one millisecond per event so that order is kept. Durations never come from this clock: the
core takes wait, talk and ring times from Asterisk's own ``HoldTime``/``TalkTime``/``RingTime``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acd.ami.codec import Framer
from acd.core.config import CoreConfig
from acd.core.effects import Anomaly, CallFinished, CallRecord, Effect
from acd.core.engine import Core

__all__ = ["ReplayClock", "ReplayResult", "capture_problem", "iter_messages", "replay", "summarize"]

_ID_HEADERS = ("Uniqueid", "Linkedid", "DestUniqueid")
_STEP = 0.001
SETTLE_SECONDS = 120.0  # after the last event: let pending decisions and grace periods run out


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
                    head = value.partition(".")[0]
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


@dataclass
class ReplayResult:
    banner: str | None
    events: int
    records: list[CallRecord] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    frame_anomalies: int = 0


def replay(
    messages: Iterable[dict[str, str]],
    *,
    config: CoreConfig | None = None,
    start: float | None = None,
    core: Core | None = None,
    keep_effects: bool = False,
    on_effects: Callable[[list[Effect]], None] | None = None,
) -> ReplayResult:
    core = core or Core(config)
    clock = ReplayClock(start)
    result = ReplayResult(banner=None, events=0)
    records = result.records
    anomalies = result.anomalies

    def take(effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, CallFinished):
                records.append(effect.record)
            elif isinstance(effect, Anomaly):
                anomalies.append(effect)
        if keep_effects:
            result.effects.extend(effects)
        if on_effects is not None and effects:
            on_effects(effects)

    apply = core.apply
    for headers in messages:
        if "Event" not in headers:
            continue
        result.events += 1
        effects = apply(headers, clock(headers))
        if effects:
            take(effects)
    take(core.tick(clock.now + SETTLE_SECONDS))
    return result


def summarize(result: ReplayResult) -> dict[str, Any]:
    """The ``acd replay --json`` document."""
    queues: dict[str, dict[str, int]] = {}
    agents: dict[str, dict[str, Any]] = {}
    calls = []
    for r in result.records:
        q = queues.setdefault(r.queue, {"offered": 0, "answered": 0, "abandoned": 0, "exited": 0})
        q["offered"] += 1
        q[r.outcome] += 1
        if r.outcome == "answered":
            name = r.agent_name or r.agent or "?"
            a = agents.setdefault(name, {"answered": 0, "talk_seconds": 0.0, "ended_by_agent": 0})
            a["answered"] += 1
            a["talk_seconds"] += r.talk_seconds
            a["ended_by_agent"] += r.ended_by == "agent"
        calls.append(
            {
                "id": r.id,
                "queue": r.queue,
                "caller": r.caller_num,
                "agent": r.agent_name,
                "interface": r.agent,
                "outcome": r.outcome,
                "exit_reason": r.exit_reason,
                "ended_by": r.ended_by,
                "cut_off": r.cut_off,
                "cut_off_reasons": list(r.cut_off_reasons),
                "cause": r.cause,
                "wait_seconds": r.wait_seconds,
                "talk_seconds": r.talk_seconds,
                "callback_of": r.callback_of,
                "repeat_of": r.repeat_of,
                "partial": r.partial,
            }
        )
    return {
        "asterisk": result.banner,
        "events": result.events,
        "queues": queues,
        "agents": agents,
        "calls": calls,
        "anomalies": len(result.anomalies) + result.frame_anomalies,
    }


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


def replay_file(
    path: Path,
    *,
    config: CoreConfig | None = None,
    start: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    framer = Framer()
    result = replay(iter_messages(path, framer=framer, progress=progress), config=config, start=start)
    result.banner = framer.banner
    result.frame_anomalies = len(framer.anomalies)
    return result
