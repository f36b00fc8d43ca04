"""Settings for a daemon a benchmark starts against its own simulator.

Everything it touches lives under the benchmark's temporary directory or on a free port: its
SQLite database and journal, an empty queue_log (never the machine's
``/var/log/asterisk/queue_log``), HTTP and the routing lookup. A benchmark run beside a real
Asterisk, or beside another run, reads and binds nothing of theirs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acd.settings import Settings


def bench_daemon_settings(
    tmp: Path, ami_port: int, secret: str, *, ami: dict[str, Any] | None = None, **over: Any
) -> Settings:
    """``ami`` adds to the AMI section (reconnect, ping); ``over`` sets other top-level settings."""
    queue_log = tmp / "queue_log"
    queue_log.touch()  # empty: nothing to fill, nothing to warn about
    return Settings(
        ami={"port": ami_port, "reconnect_min": 0.2, "secret": secret, **(ami or {})},  # type: ignore[arg-type]
        database={"url": f"sqlite+aiosqlite:///{tmp / 'acd.db'}", "spool_dir": str(tmp / "spool")},  # type: ignore[arg-type]
        http={"port": 0},  # type: ignore[arg-type]
        routing={"port": 0},  # type: ignore[arg-type]
        queue_log={"path": str(queue_log)},  # type: ignore[arg-type]
        **over,
    )
