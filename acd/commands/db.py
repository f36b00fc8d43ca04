"""``acd db upgrade|current|backfill``: apply or inspect the schema migrations (back up before
upgrading), and fill what a migration added for rows written before it."""

from __future__ import annotations

import argparse
import asyncio
import sys

from acd.settings import Settings, load_settings, with_database

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "db",
        help="database schema: upgrade or show the current revision",
        description="Inspect or migrate acd's database schema (Alembic). Back the database up before "
        "`acd db upgrade`; a new, empty database is migrated by acd run itself.",
    )
    parser.add_argument("--database", metavar="URL", help="database URL (default: ACD_DATABASE__URL)")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION")
    actions.required = True
    up = actions.add_parser(
        "upgrade",
        help="apply migrations up to the latest (or --revision)",
        description="Apply the schema migrations up to the latest revision (or --revision).",
    )
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    actions.add_parser(
        "current",
        help="show the database's schema revision and whether it is current",
        description="Print the database's schema revision and this acd's; exit 1 unless they match.",
    )
    fill = actions.add_parser(
        "backfill",
        help="build customer calls for rows written before they were recorded (resumable)",
        description="After an upgrade that added customer calls: build them, with the very stage the "
        "daemon runs, for the queue entries an older acd recorded. Runs in batches (one transaction "
        "each) and prints its progress; stopped, it resumes where it was. Safe while acd runs.",
    )
    fill.add_argument("--batch", type=int, default=5000, help="entries per transaction (default 5000)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    settings = with_database(load_settings(), args.database)
    if args.db_action == "backfill":
        if args.batch < 1:
            print("acd db backfill: --batch must be at least 1", file=sys.stderr)
            return 2
        return asyncio.run(_backfill(settings, args.batch))
    return asyncio.run(_run(args.db_action, settings.database.url, getattr(args, "revision", "head")))


async def _backfill(settings: Settings, batch: int) -> int:
    import time

    from acd.commands.database import open_database
    from acd.core.config import CoreConfig
    from acd.store.backfill import backfill
    from acd.store.upsert import RowUpserter

    engine = await open_database("db backfill", settings, existing=False)
    if engine is None:
        return 1
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-6)
        print(f"acd db backfill: {done}/{total} entries ({rate:.0f}/s)", file=sys.stderr, flush=True)

    try:
        result = await backfill(
            engine,
            CoreConfig.from_settings(settings),
            lambda server: RowUpserter(
                engine, server, settings.credit_policy, settings.credit_original_share
            ),
            batch=batch,
            progress=progress,
        )
    finally:
        await engine.dispose()
    print(
        f"backfilled {result.entries} entries into {result.customer_calls} customer calls; "
        f"{result.remaining} left"
    )
    return 0 if result.remaining == 0 else 1


async def _run(action: str, url: str, revision: str) -> int:
    from acd.store.database import make_engine
    from acd.store.migrate import SchemaError, schema_state, upgrade

    engine = make_engine(url)
    try:
        if action == "current":
            state = await schema_state(engine)
            print(f"revision: {state.current or '(none)'}  head: {state.head}  status: {state.status}")
            return 0 if state.status == "current" else 1
        before = await schema_state(engine)
        after = await upgrade(engine, revision)
        print(f"schema upgraded from {before.current or '(empty)'} to {after.current} ({after.status})")
        return 0
    except SchemaError as err:
        print(f"acd db: {err}", file=sys.stderr)
        return 1
    except (OSError, ConnectionError) as err:
        print(f"acd db: cannot reach the database: {err}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
