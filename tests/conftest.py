from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.pg_fixtures import db_url, owned_pg_server, pg_server, pg_url  # noqa: F401
from tests.support.lifeline import interrupt_on_sigterm, reinstate_sigterm

_restore_sigterm: list[Callable[[], None]] = []


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM stops the run as Ctrl-C does, tearing down the servers the tests started
    (tests/support/lifeline.py); the default action would leave them running."""
    _restore_sigterm.append(interrupt_on_sigterm())
    _daemons_keep_off_the_machines_queue_log()


def _daemons_keep_off_the_machines_queue_log() -> None:
    """A daemon a test starts in this process reads its own queue_log (a file under the test's
    tmp_path, or none), never the machine's: on a machine with Asterisk, the machine's would feed
    the test calls it never made. One that would is refused here, so the test says where."""
    from acd.daemon import Daemon
    from acd.settings import QueueLogSettings

    machines = Path(str(QueueLogSettings.model_fields["path"].default))
    original = Daemon.__init__
    if getattr(original, "guards_queue_log", False):
        return

    def init(self: Daemon, settings: Any, *args: Any, **kwargs: Any) -> None:
        path = settings.queue_log.path
        if path and (Path(path) == machines or Path(path).is_relative_to(machines.parent)):
            raise AssertionError(
                f"a test daemon would read this machine's queue_log ({path}): "
                "give it queue_log={'path': str(tmp_path / 'queue_log')} (or '' for none)"
            )
        original(self, settings, *args, **kwargs)

    init.guards_queue_log = True  # type: ignore[attr-defined]
    Daemon.__init__ = init  # type: ignore[method-assign]


def pytest_runtest_logfinish() -> None:
    if _restore_sigterm:
        reinstate_sigterm()


def pytest_unconfigure(config: pytest.Config) -> None:
    while _restore_sigterm:
        _restore_sigterm.pop()()


def pytest_terminal_summary(terminalreporter: object) -> None:
    """Say where the browser tests left their screenshots (a temporary folder, never the tree)."""
    from tests.support.browser import artifacts_made, measurements

    for line in measurements():
        terminalreporter.write_line(f"pages: {line}")  # type: ignore[attr-defined]
    folder = artifacts_made()
    if folder is not None:
        terminalreporter.write_line(f"pages: screenshots of every page the browser tests visited: {folder}")  # type: ignore[attr-defined]
