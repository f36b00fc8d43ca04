from tests.pg_fixtures import db_url, owned_pg_server, pg_server, pg_url  # noqa: F401


def pytest_terminal_summary(terminalreporter: object) -> None:
    """Say where the browser tests left their screenshots (a temporary folder, never the tree)."""
    from tests.support.browser import artifacts_made, measurements

    for line in measurements():
        terminalreporter.write_line(f"pages: {line}")  # type: ignore[attr-defined]
    folder = artifacts_made()
    if folder is not None:
        terminalreporter.write_line(f"pages: screenshots of every page the browser tests visited: {folder}")  # type: ignore[attr-defined]
