"""Offline replay: a raw AMI capture through the same framing and core the daemon uses
(``acd replay``), and with a database through the daemon's own writer, so that recorded traffic
lands exactly as live traffic would."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acd.ami.codec import Framer
from acd.capture.reading import ReplayClock, iter_messages
from acd.core.callcenter import Core
from acd.core.config import CoreConfig
from acd.core.effects import Anomaly, CallFinished, CallRecord, Effect

if TYPE_CHECKING:
    from acd.settings import Settings
    from acd.store.writer import WriterStats

__all__ = ["SETTLE_SECONDS", "ReplayResult", "replay", "replay_file", "replay_into_database", "summarize"]

SETTLE_SECONDS = 120.0  # after the last event: let pending decisions and grace periods run out


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


def replay_file(
    path: Path,
    *,
    config: CoreConfig | None = None,
    start: float | None = None,
    progress: Callable[[int], None] | None = None,
    keep_effects: bool = False,
) -> ReplayResult:
    framer = Framer()
    result = replay(
        iter_messages(path, framer=framer, progress=progress),
        config=config,
        start=start,
        keep_effects=keep_effects,
    )
    result.banner = framer.banner
    result.frame_anomalies = len(framer.anomalies)
    return result


async def replay_into_database(
    path: Path,
    settings: Settings,
    *,
    config: CoreConfig | None = None,
    start: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ReplayResult, WriterStats]:
    """Replay, then write the effects through the daemon's own writer (:mod:`acd.store.bulk`).

    Dated as a plain replay dates them (the capture's own clock) unless ``start`` says otherwise:
    history imported from a capture lands where it happened, not at the moment of the import.
    Records the writer could not write yet wait in the spool (``stats.spooled``) for the next run.
    """
    from acd.store.bulk import write_effects

    result = replay_file(path, config=config, start=start, progress=progress, keep_effects=True)
    return result, await write_effects(settings, result.effects)
