"""The suite gives the same results on a machine with Asterisk: a daemon a test starts never reads
the machine's queue_log (tests/conftest.py refuses one that would, naming the fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.daemon import Daemon
from acd.settings import QueueLogSettings, Settings


def settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}", "spool_dir": str(tmp_path / "s")},  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def test_a_test_daemon_on_the_machines_queue_log_is_refused(tmp_path: Path) -> None:
    machines = QueueLogSettings.model_fields["path"].default
    assert settings(tmp_path).queue_log.path == machines  # what a daemon reads unless told
    with pytest.raises(AssertionError, match="this machine's queue_log"):
        Daemon(settings(tmp_path))
    with pytest.raises(AssertionError, match="this machine's queue_log"):
        Daemon(settings(tmp_path, queue_log={"path": str(Path(machines).parent / "queue_log.1")}))
    Daemon(settings(tmp_path, queue_log={"path": str(tmp_path / "queue_log")}))  # its own: fine
    Daemon(settings(tmp_path, queue_log={"path": ""}))  # none: fine
