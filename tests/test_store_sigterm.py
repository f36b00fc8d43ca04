"""A real SIGTERM to a process whose writer is busy: every record submitted before the signal is
in the database (or, with the database gone, in the spool) when the process exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import asyncio, signal, sys
    from acd.settings import Settings
    from acd.store.migrate import prepare_database
    from acd.store.writer import Writer
    from tests.store_records import finished

    async def main(url, spool, out):
        settings = Settings(database={"url": url, "spool_dir": spool, "batch_size": 100})
        engine = await prepare_database(settings)
        writer = Writer(settings, engine)
        task = asyncio.create_task(writer.run())
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        sent = 0
        print("ready", flush=True)
        while not stop.is_set():
            for _ in range(50):  # bursts of records, up to ~10,000 a second
                writer.submit(finished(f"s.{sent}", joined_at=1_790_000_000.0 + sent))
                sent += 1
            await asyncio.sleep(0.005)
        await writer.close(20)
        await task
        await engine.dispose()
        with open(out, "w") as fh:
            fh.write(str(sent))

    asyncio.run(main(*sys.argv[1:4]))
    """
)


@pytest.mark.slow
def test_sigterm_under_load_flushes_everything(tmp_path: Path) -> None:
    import asyncio

    from sqlalchemy import func, select

    from acd.store.database import make_engine
    from acd.store.schema.base import table_of
    from acd.store.schema.records import Call

    url = f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"
    out = tmp_path / "sent"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(tmp_path / "spool"), str(out)],
        stdout=subprocess.PIPE,
        env=env,
        cwd=root,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # under load for a second
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
    sent = int(out.read_text())
    assert sent > 1000, sent

    async def rows() -> int:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return int(
                    (await conn.execute(select(func.count()).select_from(table_of(Call)))).scalar_one()
                )
        finally:
            await engine.dispose()

    assert asyncio.run(rows()) == sent
    assert not list((tmp_path / "spool").glob("*.wal"))
