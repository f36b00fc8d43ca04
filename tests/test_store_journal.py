"""The durable journal on its own: group commit, recovery after a crash, torn tails, the size bound,
a disk that fails and comes back, the memory bound, and the old spool moved in.

A disk that fails is the journal's write seam (``acd.store.journal.disk``) raising the errno a full
or read-only file system gives (the fault-injection suite does the same with a real tmpfs and
``remount,ro``).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from acd.store.codec import dumps
from acd.store.journal import Journal, JournalBusy
from acd.store.journal import disk as disk_mod
from acd.store.journal import frames as frames_mod
from acd.store.journal import group_commit as commit_mod
from tests.store_records import finished

ROOT = Path(__file__).resolve().parent.parent


def rec(i: int) -> object:
    return finished(f"j.{i}", joined_at=1_790_000_000.0 + i)


async def settle(journal: Journal, until: Callable[[], bool], timeout: float = 10.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not until():
        assert asyncio.get_running_loop().time() < end, journal.stats()
        await asyncio.sleep(0.005)


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    j = Journal(tmp_path / "j", max_bytes=8 << 20, memory_records=100)
    j.open()
    j.attach(asyncio.get_running_loop())
    yield j
    await j.close()


def ids(items: list[tuple[int, object]]) -> list[str]:
    return [effect.record.id for _, effect in items]  # type: ignore[attr-defined]


async def test_appended_records_become_durable_then_leave_once_acknowledged(journal: Journal) -> None:
    seqs = [journal.append(rec(i)) for i in range(50)]  # type: ignore[arg-type]
    assert seqs == list(range(1, 51))
    assert journal.depth == 50
    await settle(journal, lambda: journal.stats().on_disk == 50)
    assert journal.stats().commits >= 1 and journal.healthy
    first = await journal.read(0, 20)
    assert ids(first) == [f"j.{i}" for i in range(20)]
    journal.ack(20)
    assert ids(await journal.read(20, 100)) == [f"j.{i}" for i in range(20, 50)]
    journal.ack(50)
    assert journal.depth == 0
    assert await journal.read(50, 10) == []


async def test_a_restart_reads_back_what_the_database_did_not_acknowledge(tmp_path: Path) -> None:
    j = Journal(tmp_path, memory_records=100)
    j.open()
    for i in range(30):
        j.append(rec(i))  # type: ignore[arg-type]
    await settle(j, lambda: j.stats().on_disk == 30)
    j.ack(12)
    await j.close()
    again = Journal(tmp_path, memory_records=100)
    assert again.open() == 18
    assert ids(await again.read(again.acked, 100)) == [f"j.{i}" for i in range(12, 30)]
    assert again.append(rec(99)) == 31  # type: ignore[arg-type]  # numbering goes on after the old ones
    await again.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from acd.store.journal import Journal
    from tests.store_records import finished

    async def main(path, n):
        j = Journal(path)
        j.open()
        j.attach(asyncio.get_running_loop())
        for i in range(n):
            j.append(finished(f"k.{i}", joined_at=1_790_000_000.0 + i))
        while j.stats().on_disk < n:
            await asyncio.sleep(0.001)
        print("durable", flush=True)
        while True:  # more keep coming until the kill
            j.append(finished(f"late.{time.monotonic_ns()}"))
            await asyncio.sleep(0.0005)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def test_sigkill_loses_nothing_that_was_durable(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), "500"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "durable"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()

    async def reopen() -> list[str]:
        j = Journal(tmp_path)
        j.open()
        try:
            return ids(await j.read(0, 100_000))
        finally:
            await j.close()

    found = asyncio.run(reopen())
    assert found[:500] == [f"k.{i}" for i in range(500)]
    assert all(name.startswith("late.") for name in found[500:])  # and whatever else made it


async def test_a_torn_tail_is_cut_and_the_rest_kept(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.open()
    for i in range(10):
        j.append(rec(i))  # type: ignore[arg-type]
    await settle(j, lambda: j.stats().on_disk == 10)
    await j.close()
    (segment,) = tmp_path.glob("*.wal")
    good = segment.stat().st_size
    with segment.open("ab") as fh:  # a frame cut in the middle, as a crash mid-write leaves it
        frame = frames_mod.encode(11, rec(10))  # type: ignore[arg-type]
        fh.write(frame[: len(frame) // 2])
    again = Journal(tmp_path)
    assert again.open() == 10
    assert segment.stat().st_size == good
    assert again.append(rec(10)) == 11  # type: ignore[arg-type]
    await settle(again, lambda: again.stats().on_disk == 11)
    assert ids(await again.read(0, 100)) == [f"j.{i}" for i in range(11)]
    await again.close()


async def test_one_process_owns_a_journal(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.open()
    with pytest.raises(JournalBusy):
        Journal(tmp_path).open()
    await j.close()
    other = Journal(tmp_path)
    other.open()
    await other.close()


class FailingDisk:
    """The journal's write seam: raises ``code`` while ``failing``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
        self.failing = True
        self.code = code
        real = disk_mod.write_all

        def write(fd: int, data: bytes) -> None:
            if self.failing:
                raise OSError(self.code, os.strerror(self.code))
            real(fd, data)

        monkeypatch.setattr(disk_mod, "write_all", write)


@pytest.mark.parametrize(
    ("code", "state"), [(errno.ENOSPC, "disk_full"), (errno.EROFS, "read_only"), (errno.EIO, "error")]
)
async def test_a_disk_that_fails_keeps_records_in_memory_and_recovers_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, state: str
) -> None:
    monkeypatch.setattr(commit_mod, "RETRY_MIN", 0.01)
    monkeypatch.setattr(commit_mod, "RETRY_MAX", 0.02)
    j = Journal(tmp_path, memory_records=1000)
    j.open()
    states: list[str] = []
    j.attach(asyncio.get_running_loop())
    j.on_state(states.append)
    disk = FailingDisk(monkeypatch, code)
    for i in range(40):
        j.append(rec(i))  # type: ignore[arg-type]
    await settle(j, lambda: j.state == state)
    stats = j.stats()
    assert not j.healthy and stats.failures >= 1 and stats.in_memory_only == 40 and stats.dropped == 0
    assert ids(await j.read(0, 100)) == [f"j.{i}" for i in range(40)]  # the database is still fed
    disk.failing = False
    await settle(j, lambda: j.healthy and j.stats().on_disk == 40)
    assert states[0] == state and states[-1] == "ok"
    await j.close()
    again = Journal(tmp_path)
    again.open()
    assert ids(await again.read(0, 100)) == [f"j.{i}" for i in range(40)]
    await again.close()


async def test_memory_full_while_the_disk_fails_drops_and_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commit_mod, "RETRY_MIN", 0.01)
    j = Journal(tmp_path, memory_records=25)
    j.open()
    j.attach(asyncio.get_running_loop())
    j.mark(100.0)
    await settle(j, lambda: j._committer.covered_at == 100.0)
    disk = FailingDisk(monkeypatch, errno.ENOSPC)
    kept = [j.append(rec(i)) for i in range(25)]  # type: ignore[arg-type]
    await settle(j, lambda: j.state == "disk_full")
    late = [j.append(rec(i)) for i in range(25, 40)]  # type: ignore[arg-type]
    assert None not in kept and late == [None] * 15
    assert j.stats().dropped == 15 and j.stats().in_memory_only == 25
    j.mark(200.0)
    # The database takes what memory kept: nothing is at risk any more, but the gap the next start
    # fills from queue_log still begins before the first dropped record.
    j.ack(25)
    await asyncio.sleep(0.2)
    # Nothing waits to be written, but the disk is still full: no recovery is declared.
    assert j.state == "disk_full" and not j.healthy and j.stats().failures >= 2
    disk.failing = False
    await settle(j, lambda: j.healthy)
    await asyncio.sleep(0.05)
    assert j._committer.covered_at == 100.0
    await j.close()


async def test_the_size_bound_holds_and_acknowledged_records_make_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commit_mod, "RETRY_MIN", 0.01)
    monkeypatch.setattr(commit_mod, "RETRY_MAX", 0.02)
    j = Journal(tmp_path, max_bytes=200_000, memory_records=10_000, segment_bytes=20_000)
    j.open()
    j.attach(asyncio.get_running_loop())
    seen: list[str] = []
    j.on_state(seen.append)
    for i in range(400):  # ~1.2 kB each: about twice the bound
        j.append(rec(i))  # type: ignore[arg-type]
    # The thread sets ``state`` at once, but its reports of what it made durable reach the loop
    # after (in order): wait for the loop to hear of the bound, so the counts below are its own.
    await settle(j, lambda: "bound" in seen)
    stats = j.stats()
    assert stats.bytes <= 200_000 and stats.on_disk > 100 and stats.in_memory_only > 100
    assert stats.on_disk + stats.in_memory_only == 400 and stats.dropped == 0
    cursor = 0
    while cursor < 400:  # the database comes back and takes everything, in order
        batch = await j.read(cursor, 50)
        assert [s for s, _ in batch] == list(range(cursor + 1, cursor + 1 + len(batch)))
        cursor = batch[-1][0]
        j.ack(cursor)
    await settle(j, lambda: j.healthy)
    await settle(j, lambda: j.stats().bytes < 40_000)
    await j.close()


async def test_records_beyond_memory_are_read_back_from_disk(tmp_path: Path) -> None:
    j = Journal(tmp_path, memory_records=20)
    j.open()
    j.attach(asyncio.get_running_loop())
    for i in range(100):
        j.append(rec(i))  # type: ignore[arg-type]
        if i % 10 == 9:
            await settle(j, lambda i=i: j.stats().on_disk == i + 1)  # type: ignore[misc]
    assert len(j._mem) <= 20
    got: list[str] = []
    cursor = 0
    while batch := await j.read(cursor, 30):
        got += ids(batch)
        cursor = batch[-1][0]
        j.ack(cursor)
    assert got == [f"j.{i}" for i in range(100)]
    await j.close()


async def test_a_reopened_journal_is_read_in_order_across_segments_each_frame_once(tmp_path: Path) -> None:
    j = Journal(tmp_path, segment_bytes=8 << 10)
    j.open()
    for i in range(120):
        j.append(rec(i))  # type: ignore[arg-type]
    await settle(j, lambda: j.stats().on_disk == 120)
    await j.close()
    assert len(list(tmp_path.glob("*.wal"))) > 3
    # A frame whose checksum holds but whose record this version cannot read (an effect type
    # from a newer acd): kept on disk at start-up, skipped and logged by the reader.
    last = sorted(tmp_path.glob("*.wal"))[-1]
    payload = json.dumps({"seq": 121, "effect": {"type": "FromTheFuture"}}, separators=(",", ":")).encode()
    with last.open("ab") as fh:
        fh.write(frames_mod.HEADER.pack(len(payload), frames_mod.zlib.crc32(payload)) + payload)
    again = Journal(tmp_path, segment_bytes=8 << 10)
    assert again.open() == 121
    scans: list[int] = []
    frames = frames_mod.read_frames

    def counting(path: Path, stop_after: int | None = None, start: int = 0) -> object:
        out = frames(path, stop_after, start)
        scans.append(len(out[0]))
        return out

    frames_mod.read_frames = counting  # type: ignore[assignment]
    try:
        got: list[str] = []
        cursor = 0
        while cursor < again.last_seq and (batch := await again.read(cursor, 7)):
            got += ids(batch)
            cursor = batch[-1][0]
            again.ack(cursor)
    finally:
        frames_mod.read_frames = frames  # type: ignore[assignment]
    assert got == [f"j.{i}" for i in range(120)]
    assert sum(scans) <= 121 + 2 * len(scans)  # sequential reads go on where the last one stopped
    assert await again.read(cursor, 7) == []  # the unreadable one: let go, and counted
    assert again.acked == 121 and again.depth == 0 and again.stats().dropped == 1
    assert again.append(rec(200)) == 122  # type: ignore[arg-type]
    await again.close()


async def test_the_old_spool_is_moved_into_the_journal(tmp_path: Path) -> None:
    (tmp_path / f"{7:020d}.jsonl").write_text("".join(dumps(7 + i, rec(i)) + "\n" for i in range(3)))  # type: ignore[arg-type]
    (tmp_path / f"{1:020d}.jsonl").write_text(dumps(1, rec(100)) + "\n")  # type: ignore[arg-type]
    (tmp_path / f"{20:020d}.jsonl").write_text('{"seq": 20, "effect": {"type": "Mystery"}}\n')
    j = Journal(tmp_path)
    assert j.open() == 4
    assert ids(await j.read(0, 10)) == ["j.100", "j.0", "j.1", "j.2"]
    assert not list(tmp_path.glob("*.jsonl"))
    assert [p.name for p in tmp_path.glob("*.bad")] == [f"{20:020d}.bad"]  # kept for the operator
    await j.close()


async def test_forced_exit_flushes_what_waits(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.open()
    with j._committer.cond:  # hold the thread off, as if it were busy
        for i in range(5):
            j.append(rec(i))  # type: ignore[arg-type]
    assert j.flush_sync(2.0) == 0
    frames = frames_mod.scan(next(tmp_path.glob("*.wal")))[0]
    assert [s for s, _ in frames] == [1, 2, 3, 4, 5]
    await j.close()


async def test_the_checkpoint_remembers_acknowledgements_and_coverage(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.open()
    j.attach(asyncio.get_running_loop())
    for i in range(5):
        j.append(rec(i))  # type: ignore[arg-type]
    j.mark(1234.5)
    j.ack(3)
    await j.close()
    data = json.loads((tmp_path / "checkpoint.json").read_text())
    assert data == {"acked": 3, "covered_at": 1234.5}
    again = Journal(tmp_path)
    assert again.open() == 2
    assert again.last_seen == 1234.5
    await again.close()


def test_the_journal_encodes_every_stored_effect_as_the_core_describes_it() -> None:
    from acd.core.effects import (
        AffinityDecided,
        AgentOffer,
        GapRecorded,
        MemberSession,
        OutcomeReported,
        as_dict,
    )
    from acd.store.codec import loads

    effects = [
        finished(
            "e.1",
            offers=(AgentOffer("Local/1001@agents", "Agent 1001", 1.0, "answered", 2.0),),
            cut_off_reasons=("agent_cause_38",),
            variables=(("ACCOUNT", "A-17"),),
            unknown=("wait_seconds",),
        ),
        MemberSession("pause", "sales", "Local/1001@agents", "Agent 1001", "lunch", 5.0),
        OutcomeReported("e.1", "e.1", "Local/1001@agents", "sale", True, "ok", 1.5, 9.0, (("X-A", "b"),)),
        GapRecorded(1.0, 2.0, "reconnect", 3, 1, 2, "read"),
        AffinityDecided(
            "u",
            None,
            ("a", "b"),
            "q",
            "offer_now",
            "original_agent",
            False,
            "Local/1001@agents",
            "Agent 1001",
            "c.1",
            "",
            3.0,
            4.0,
            "PJSIP/x-1",
            2.0,
        ),
    ]
    for seq, effect in enumerate(effects):
        line = dumps(seq, effect)  # type: ignore[arg-type]
        assert line == json.dumps({"seq": seq, "effect": as_dict(effect)}, separators=(",", ":"))  # type: ignore[arg-type]
        assert loads(line) == (seq, effect)
