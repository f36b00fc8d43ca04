from collections.abc import Callable

import pytest

from tests.pg_fixtures import db_url, owned_pg_server, pg_server, pg_url  # noqa: F401
from tests.support.lifeline import interrupt_on_sigterm, reinstate_sigterm

_restore_sigterm: list[Callable[[], None]] = []


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM stops the run as Ctrl-C does, tearing down the servers the tests started
    (tests/support/lifeline.py); the default action would leave them running."""
    _restore_sigterm.append(interrupt_on_sigterm())


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
