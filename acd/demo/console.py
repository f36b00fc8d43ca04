"""What the demo's user reads: the banner (the pages, the sign-in tokens, where records go), a
status line every 10 s, and the summary at the end."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, TextIO

from acd.demo.center import Center
from acd.demo.history import HistoryResult
from acd.demo.reps import RepStats
from acd.demo.tally import Tally
from acd.settings import Settings

if TYPE_CHECKING:
    from acd.daemon import Daemon

STATUS_SECONDS = 10.0

_PERSONA_WORDS = {
    "careful": "writes careful notes",
    "rushed": 'rushes: notes empty or "ok"',
    "early_release": "hangs up early on every second call",
    "closer": "closes orders other reps' cut-offs left open",
    "haggler": "quotes their own price on a sale someone else started",
}


def banner(
    out: TextIO,
    center: Center,
    settings: Settings,
    base: str,
    history: HistoryResult | None,
) -> None:
    width = max(len(r.name) for r in center.reps)
    lines = [
        "",
        f"acd demo: {len(center.reps)} reps answer {center.rate:g} calls a minute on a simulated Asterisk "
        f"({center.speed:g}x speed), every caller routed by acd",
        f"  history: {_history_words(history)}",
        "",
        f"  wallboard  {base}/wallboard          sign in with the wallboard or supervisor token",
        f"  rep desk   {base}/desk               sign in as a rep (their token below)",
        f"  review     {base}/review             supervisor",
        f"  scorecards {base}/agents             supervisor",
        f"  metrics    {base}/metrics",
        "",
        "  sign-ins (tokens made for this run):",
        f"    {'supervisor':<{width + 14}} {center.supervisor_token}",
        f"    {'wallboard':<{width + 14}} {center.wallboard_token}",
    ]
    for rep in center.reps:
        label = f"{rep.name} ({rep.exten})"
        lines.append(
            f"    {label:<{width + 14}} {rep.token}   {_PERSONA_WORDS.get(rep.persona, '')}".rstrip()
        )
    lines += [
        "",
        "  try the API:",
        f"    curl -s -H 'Authorization: Bearer {center.supervisor_token}' '{base}/api/v1/calls?limit=3'",
        "",
        f"  records go to {_database_words(settings)}; Ctrl-C stops the demo.",
        "",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


def _history_words(history: HistoryResult | None) -> str:
    if history is None:
        return "none (--history 0)"
    if history.skipped:
        return f"none added: {history.skipped} (an empty directory gives a fresh demo)"
    return (
        f"{history.days} earlier days, {history.calls:,} calls and {history.outcomes:,} outcomes "
        f"recorded in {history.seconds:.1f} s"
    )


def _database_words(settings: Settings) -> str:
    url = settings.database.url
    prefix = "sqlite+aiosqlite:///"
    return url[len(prefix) :] if url.startswith(prefix) else "the database (ACD_DATABASE__URL)"


async def status_loop(out: TextIO, daemon: Daemon, tally: Tally, reps: RepStats) -> None:
    while True:
        await asyncio.sleep(STATUS_SECONDS)
        out.write(status_line(daemon, tally, reps) + "\n")
        out.flush()


def status_line(daemon: Daemon, tally: Tally, reps: RepStats) -> str:
    now = daemon.clock.now()
    snapshot = daemon.core.live(now)
    waiting = sum(q.waiting for q in snapshot.queues) if snapshot is not None else 0
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    return (
        f"{stamp}  calls {tally.calls}  waiting {waiting}  cut-offs {tally.cut_offs}  "
        f"callbacks {tally.routed_callbacks} (to their rep {tally.to_their_rep}, "
        f"fallback {tally.fallbacks})  outcomes {reps.posted} ({reps.without_notes} without notes)"
    )


def summary(out: TextIO, tally: Tally, reps: RepStats, wall: float, simulated: float) -> None:
    out.write(
        "\n"
        f"acd demo: stopped after {_duration(wall)} ({_duration(simulated)} simulated)\n"
        f"  calls {tally.calls}, answered {tally.answered}, cut off {tally.cut_offs}\n"
        f"  callbacks {tally.routed_callbacks}: {tally.to_their_rep} reached their rep{_first(tally)}, "
        f"{tally.fallbacks} fell back\n"
        f"  outcomes {reps.posted} posted by the reps: {reps.without_notes} without real notes, "
        f"{_count(reps.sales, 'sale')}, {_count(reps.released_early, 'call')} released early\n"
        "  what was recorded: acd report --since 7d\n"
    )
    out.flush()


def _first(tally: Tally) -> str:
    if tally.first_to_their_rep is None:
        return ""
    return f" (the first called back {_duration(tally.first_to_their_rep)} in)"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
