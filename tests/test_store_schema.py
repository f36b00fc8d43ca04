"""Migrations from empty on SQLite and PostgreSQL, the start-up schema check, and models == migrations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from acd.settings import Settings
from acd.store import migrate
from acd.store.database import make_engine
from acd.store.migrate import SchemaError, prepare_database, schema_state
from acd.store.schema import metadata

TABLES = {"calls", "offers", "outcomes", "callback_links", "credits", "agent_sessions", "gaps"}


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("pg_url"))


def settings_for(url: str, tmp_path: Path) -> Settings:
    return Settings(database={"url": url, "spool_dir": str(tmp_path / "spool")})  # type: ignore[arg-type]


async def test_empty_database_is_migrated_at_start(db_url: str, tmp_path: Path) -> None:
    engine = await prepare_database(settings_for(db_url, tmp_path))
    try:
        state = await schema_state(engine)
        assert state.status == "current" and state.current == migrate.head_revision()
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert names >= TABLES | {"alembic_version"}
        # Starting again on the current schema is a no-op.
        await (await prepare_database(settings_for(db_url, tmp_path))).dispose()
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(db_url: str, tmp_path: Path) -> None:
    engine = await prepare_database(settings_for(db_url, tmp_path))
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
        assert diff == []
    finally:
        await engine.dispose()


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = await prepare_database(settings_for(sqlite_url(tmp_path), tmp_path))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await engine.dispose()


@pytest.fixture
def newer_migrations(tmp_path: Path) -> Path:
    """A copy of the shipped migrations plus one more revision, as a newer acd would have."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "versions" / "9999_future.py").write_text(
        "from alembic import op\nimport sqlalchemy as sa\n"
        f"revision = '9999'\ndown_revision = {migrate.head_revision()!r}\nbranch_labels = None\n"
        "depends_on = None\n\n"
        "def upgrade() -> None:\n    op.add_column('gaps', sa.Column('note', sa.Text(), nullable=True))\n\n"
        "def downgrade() -> None:\n    op.drop_column('gaps', 'note')\n"
    )
    return copy


async def test_older_schema_waits_for_db_upgrade(
    db_url: str, tmp_path: Path, newer_migrations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await (await prepare_database(settings_for(db_url, tmp_path))).dispose()  # at today's head
    monkeypatch.setattr(migrate, "MIGRATIONS", newer_migrations)  # now "this acd" is newer
    with pytest.raises(
        SchemaError, match=r"older than this acd's 9999: back it up, then run `acd db upgrade`"
    ):
        await prepare_database(settings_for(db_url, tmp_path))
    engine = make_engine(db_url)
    try:
        state = await migrate.upgrade(engine)
        assert state.status == "current" and state.current == "9999"
    finally:
        await engine.dispose()


async def test_newer_schema_is_refused(
    db_url: str, tmp_path: Path, newer_migrations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(migrate, "MIGRATIONS", newer_migrations)
        await (await prepare_database(settings_for(db_url, tmp_path))).dispose()
    with pytest.raises(SchemaError, match="revision 9999, newer than this acd knows"):
        await prepare_database(settings_for(db_url, tmp_path))
    engine = make_engine(db_url)
    try:
        with pytest.raises(SchemaError, match="newer"):
            await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def test_tables_without_version_are_refused(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    with pytest.raises(SchemaError, match="no schema version"):
        await prepare_database(settings_for(sqlite_url(tmp_path), tmp_path))


def test_db_command_upgrades_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from acd.commands import db

    parser = argparse.ArgumentParser()
    db.register(parser.add_subparsers())
    url = sqlite_url(tmp_path)
    assert db.main(parser.parse_args(["db", "--database", url, "current"])) == 1
    assert "status: empty" in capsys.readouterr().out
    assert db.main(parser.parse_args(["db", "--database", url, "upgrade"])) == 0
    assert f"to {migrate.head_revision()}" in capsys.readouterr().out
    assert db.main(parser.parse_args(["db", "--database", url, "current"])) == 0
    assert "status: current" in capsys.readouterr().out


async def test_upgrade_from_the_first_release_keeps_rows(db_url: str, tmp_path: Path) -> None:
    """A database made by the first schema (0001) holding calls: the daemon refuses it until
    `acd db upgrade`, which keeps every row."""
    from acd.store.upsert import RowUpserter
    from tests.store_records import finished

    engine = make_engine(db_url)
    try:
        await migrate.upgrade(engine, "0001")
        async with engine.begin() as conn:  # a row as the 0001 writer wrote it
            await conn.execute(
                text(
                    "INSERT INTO calls (server_id, uniqueid, entry, call_id, linkedid, queue, personal, "
                    "joined_at, ended_at, outcome, wait_seconds, talk_seconds, cut_off, "
                    "agent_released_short, partial) VALUES ('asterisk', 'u1', 1, 'u1', 'u1', 'sales', "
                    "false, 1.0, 2.0, 'abandoned', 1.0, 0.0, false, false, false)"
                )
            )
        with pytest.raises(SchemaError, match="acd db upgrade"):
            await prepare_database(settings_for(db_url, tmp_path))
        state = await migrate.upgrade(engine)
        assert state.status == "current"
        await RowUpserter(engine, "asterisk", "split").write([finished("u2")])
        async with engine.connect() as conn:
            ids = (await conn.execute(text("SELECT call_id FROM calls ORDER BY call_id"))).scalars().all()
        assert ids == ["u1", "u2"]
    finally:
        await engine.dispose()
