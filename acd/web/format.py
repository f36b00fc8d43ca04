"""How numbers and times read on the pages: in the center's time zone, with their meaning.

One place for it, so the wallboard's live updates (formatted here and pushed as text) and the
server-rendered pages never disagree. A ratio with an empty base reads "no data", never 0%.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = ["Clockface", "center_zone", "duration", "pct", "points"]


def center_zone(name: str) -> tzinfo:
    """The zone ``ACD_TIME_ZONE`` names; empty: this machine's (with its daylight-saving rules)."""
    if name:
        return ZoneInfo(name)
    local = Path("/etc/localtime")
    if local.exists():
        with local.open("rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    zone = datetime.now().astimezone().tzinfo
    return zone if zone is not None else ZoneInfo("UTC")


def duration(seconds: float | None) -> str:
    """``0:42``, ``12:05``, ``1 h 03 min``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    total = max(0, round(seconds))
    if total >= 3600:
        return f"{total // 3600} h {total % 3600 // 60:02d} min"
    return f"{total // 60}:{total % 60:02d}"


def pct(ratio: float | None) -> str:
    return "no data" if ratio is None else f"{ratio * 100:.0f}%"


def points(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"


class Clockface:
    """Times as the center reads them."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.zone)

    def day_start(self, now: float) -> float:
        """Midnight today, center time."""
        return self.local(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()

    def week_start(self, now: float) -> float:
        """Monday 00:00 of this week, center time."""
        today = self.local(now).replace(hour=0, minute=0, second=0, microsecond=0)
        return (today - timedelta(days=today.weekday())).timestamp()

    def clock(self, ts: float | None) -> str:
        """``14:05:09``."""
        return "-" if ts is None else self.local(ts).strftime("%H:%M:%S")

    def when(self, ts: float | None, now: float) -> str:
        """``14:05`` today, ``Mon 14:05`` within a week, else ``2026-01-03 14:05``."""
        if ts is None:
            return "-"
        at = self.local(ts)
        if ts >= self.day_start(now):
            return at.strftime("%H:%M")
        if now - ts < 6 * 86400:
            return at.strftime("%a %H:%M")
        return at.strftime("%Y-%m-%d %H:%M")

    def ago(self, ts: float | None, now: float) -> str:
        """``just now``, ``12 min ago``, ``3 h ago``, ``2 days ago``."""
        if ts is None:
            return "-"
        gap = max(0.0, now - ts)
        if gap < 60:
            return "just now"
        if gap < 3600:
            return f"{int(gap // 60)} min ago"
        if gap < 86400:
            return f"{int(gap // 3600)} h ago"
        return f"{int(gap // 86400)} days ago"

    def zone_name(self) -> str:
        return str(getattr(self.zone, "key", None) or self.zone)
