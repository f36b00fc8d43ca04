"""Event pipeline throughput over loopback TCP, several ways in one run, as ratios.

    .venv/bin/python bench/bench_pipeline.py [--events 200000]

A server process streams the same large AMI event stream (the recorded transfer and agent-login
captures repeated with fresh Uniqueids, ~200,000 events) to each reader in turn:

  R  a bare framing-and-dict parser (the fixed reference below: split on the blank line, partition
     each line on ': ', one dict per message, dispatch by Event; no validation): the ceiling;
  P  panoramisk's Manager with one '*' callback;
  A  acd's whole pipeline as the daemon runs it: its AMI client (framing before decoding, size
     caps, anomaly counts; events no handler reads are framed and counted but not parsed), the
     daemon's consumer (acd/consumer.py: queue, lag sampling, progress), the core (every handler
     on), and the effects fanned out to the metrics and to the writer, whose durable journal
     appends, writes and fdatasyncs every record on its own thread (on a real disk:
     ``--journal-dir``; tmpfs has no fsync cost) while its database is down (so every record goes
     to disk: the most the journal costs; the database is measured in bench_writer.py). A run
     ends when every record is durable (accepted), not merely handled;
  A' the same with every event parsed into a header map and queued (the worst case: a reader
     that needs every event); the consumer counts them all and hands the core those it handles;
  S  A' with a writer stand-in that only keeps the effects in place of the writer and journal:
     what the journal costs is A' against S.

Machines here are noisy: only ratios measured in the same run mean anything, and each reader is
also measured in CPU time (every thread of this process), which a busy neighbour barely moves.
Targets: A >= 0.5 R, A faster than a real Asterisk writes QueueStatus (~106,000 messages/s), and
A' >= 0.7 R.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import multiprocessing
import re
import shutil
import socket
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from acd.ami.codec import Framer  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "ami"
_ID = re.compile(rb"\b(1795\d{6})\.(\d+)\b")


Stamp = tuple[float, float]  # (wall clock, this process's CPU time: every thread)


def now() -> Stamp:
    return time.perf_counter(), time.process_time()


@dataclass(frozen=True)
class Rate:
    """Events per second of wall time, and per second of this process's CPU time (all its
    threads, the journal's included). On a shared machine the wall figure moves with the
    neighbours' load; the CPU figure barely does, and charges the journal's thread in full even
    where it ran beside the loop on another core."""

    wall: float
    cpu: float


def rate(n: int, start: Stamp, end: Stamp) -> Rate:
    return Rate(n / (end[0] - start[0]), n / max(end[1] - start[1], 1e-9))


def best(a: Rate | None, b: Rate) -> Rate:
    return b if a is None else Rate(max(a.wall, b.wall), max(a.cpu, b.cpu))


def build_stream(target: int) -> tuple[bytes, int]:
    """Events only (responses would confuse P's action matching), CRLF-framed, fresh ids per copy."""
    blocks = []
    for name in ("transfer.ami.log", "agents_login.ami.log"):
        data = (FIXTURES / name).read_bytes()
        data = data[data.index(b"\r\n") + 2 :]
        blocks += [b + b"\r\n\r\n" for b in data.split(b"\r\n\r\n") if b.startswith(b"Event: ")]
    one = b"".join(blocks)
    per = len(blocks)
    copies = -(-target // per)
    parts = []
    for i in range(copies):
        parts.append(_ID.sub(lambda m, i=i: b"%d.%s" % (int(m.group(1)) + i * 1000, m.group(2)), one))
    return b"".join(parts), copies * per


def _serve(port_q: Any, stream: bytes, rounds: int) -> None:
    """Server process: for each connection, answer the login, then write the whole stream and close."""
    banner = b"Asterisk Call Manager/11.0.0\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner)
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                chunk = await reader.read(4096)
            except ConnectionError:  # the start-up probe connects and goes at once
                return
            if not chunk:
                return
            buf += chunk
        m = re.search(rb"ActionID: ([^\r]*)", buf)
        aid = m.group(1) if m else b"1"
        writer.write(
            b"Response: Success\r\nActionID: " + aid + b"\r\nMessage: Authentication accepted\r\n\r\n"
        )
        await writer.drain()
        view = memoryview(stream)
        try:
            for pos in range(0, len(stream), 1 << 16):
                writer.write(view[pos : pos + (1 << 16)])
                await writer.drain()
        except ConnectionError:
            return
        # Keep the socket open until the reader closes it: the reader measures its own end.
        with contextlib.suppress(ConnectionError):
            await reader.read()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_q.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ------------------------------------------------------------------- R: the bare reference


class BareProtocol(asyncio.Protocol):
    """The fixed reference: split on the blank line, partition lines, one dict, dispatch by Event."""

    def __init__(self, expected: int, done: asyncio.Future[Stamp]) -> None:
        self.buf = b""
        self.count = 0
        self.expected = expected
        self.done = done
        self.handlers: dict[str, int] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"Action: Login\r\nActionID: 1\r\nUsername: acd\r\nSecret: x\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        *messages, self.buf = self.buf.split(b"\r\n\r\n")
        handlers = self.handlers
        for raw in messages:
            msg = dict(line.partition(": ")[::2] for line in raw.decode("utf-8", "replace").split("\r\n"))
            name = msg.get("Event")
            if name is not None:
                handlers[name] = handlers.get(name, 0) + 1
                self.count += 1
        if self.count >= self.expected and not self.done.done():
            self.done.set_result(now())
            assert self.transport is not None
            self.transport.close()


async def run_bare(port: int, expected: int) -> Rate:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Stamp] = loop.create_future()
    start = now()
    await loop.create_connection(lambda: BareProtocol(expected, done), "127.0.0.1", port)
    end = await done
    return rate(expected, start, end)


# ------------------------------------------------------------------- P: panoramisk alone


async def run_panoramisk(port: int, expected: int) -> Rate:
    from panoramisk import Manager

    loop = asyncio.get_running_loop()
    done: asyncio.Future[Stamp] = loop.create_future()
    count = 0

    def on_event(manager: Any, message: Any) -> None:
        nonlocal count
        count += 1
        if count >= expected and not done.done():
            done.set_result(now())

    manager = Manager(loop=loop, host="127.0.0.1", port=port, username="acd", secret="x", ping_delay=3600)
    manager.register_event("*", on_event)
    start = now()
    await manager.connect()
    end = await done
    manager.close()
    return rate(expected, start, end)


# ------------------------------------------------------------------- A: acd's pipeline


async def run_acd(
    port: int, expected: int, *, parse_all: bool = False, journal_dir: Path | None = None
) -> tuple[Rate, dict[str, int]]:
    """The daemon's own pieces: its AMI client, its consumer (acd/consumer.py, with the lag
    histogram and the watchdog's progress count), the core, the metrics, and a writer stand-in
    (with ``journal_dir``: the daemon's writer and journal, its database a stand-in)."""
    from acd.ami.connection import AmiClient
    from acd.clock import EventClock
    from acd.consumer import Consumer
    from acd.core.callcenter import Core
    from acd.core.config import CoreConfig
    from acd.daemon import CORE_EVENTS
    from acd.metrics.metrics import Metrics
    from acd.metrics.pipeline import PipelineMetrics
    from acd.settings import AmiSettings, Settings

    settings = Settings()
    ami = AmiSettings(host="127.0.0.1", port=port, username="acd", secret="x", ping_interval=3600.0)  # type: ignore[arg-type]
    core = Core(CoreConfig.from_settings(settings))
    clock = EventClock()
    metrics = Metrics(settings, live=lambda: core.live(clock.now()))
    kept: deque[Any] = deque(maxlen=100_000)  # the writer stand-in: submit() only appends
    writer, keep = None, kept.append
    if journal_dir is not None:
        writer = journal_writer(settings, journal_dir)
        writer_task = asyncio.get_running_loop().create_task(writer.run())
        keep = writer.submit
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Stamp] = loop.create_future()
    effects_n = 0

    def dispatch(effects: list[Any]) -> None:
        nonlocal effects_n
        effects_n += len(effects)
        for effect in effects:
            metrics.observe(effect)
            keep(effect)

    def failed(headers: Any, exc: Exception) -> None:
        raise exc

    consumer = Consumer(
        core.apply,
        clock.stamp,
        dispatch,
        count_event=metrics.health.count_event,
        on_marker=lambda item, received: None,
        on_error=failed,
        handled=CORE_EVENTS,
    )
    client = AmiClient(
        ami,
        on_message=consumer.put,
        on_events=consumer.put_many,
        backlog=consumer.queue.__len__,
        keep_events=None if parse_all else CORE_EVENTS,
    )
    PipelineMetrics(metrics.registry, consumer, lambda: client.stats, lambda: 0, asterisk_clock=True)

    async def finished() -> None:
        while consumer.events + sum(client.skipped_events.values()) < expected:
            await asyncio.sleep(0.001)
        done.set_result(now())

    task = loop.create_task(consumer.run())
    watcher = loop.create_task(finished())
    # As the daemon does once started: what start-up built stays out of every later collection.
    gc.collect()
    gc.freeze()
    start = now()
    await client.start()
    end = await done
    extra = {"effects": effects_n, "anomalies": core.anomalies}
    if writer is not None:
        # The run ends when the journal has every record durable: the promise's own measure.
        while writer.journal.stats().in_memory_only:
            await asyncio.sleep(0.001)
        end = now()
        stats = writer.journal.stats()
        extra |= {"records": stats.on_disk, "fsyncs": stats.commits}
        await writer.close(0.1)
        await writer_task
    gc.unfreeze()
    await client.close()
    task.cancel()
    watcher.cancel()
    return rate(expected, start, end), extra


class _Down:
    """The database stand-in: down."""

    async def write(self, batch: Any) -> None:
        raise ConnectionRefusedError("the database stand-in is down")


def journal_writer(settings: Any, directory: Path) -> Any:
    from acd.store.writer import Writer

    db = settings.database.model_copy(update={"spool_dir": str(directory)})
    return Writer(settings.model_copy(update={"database": db}), store=_Down(), retry_min=60)  # type: ignore[arg-type]


# ------------------------------------------------------------------- framing alone (context)


def framing_only(stream: bytes) -> float:
    framer = Framer(expect_banner=False)
    start = time.perf_counter()
    n = 0
    for pos in range(0, len(stream), 1 << 16):
        n += len(framer.feed(stream[pos : pos + (1 << 16)]))
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each reader; the best is kept")
    parser.add_argument(
        "--journal-dir", type=Path, help="where the journal lives (default: a temporary directory)"
    )
    args = parser.parse_args()
    # The database stand-in is down on purpose: its writer's warnings are expected, not news.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    journal_base = Path(tempfile.mkdtemp(prefix="acd-bench-pipeline-", dir=args.journal_dir))
    stream, n = build_stream(args.events)
    print(f"stream: {n} events, {len(stream) / 1e6:.1f} MB")
    ctx = multiprocessing.get_context("spawn")
    port_q = ctx.Queue()
    server = ctx.Process(target=_serve, args=(port_q, stream, 0), daemon=True)
    server.start()
    port = port_q.get(timeout=30)
    with socket.create_connection(("127.0.0.1", port)):
        pass
    results: dict[str, Rate | None] = dict.fromkeys("RPAFS")
    extra: dict[str, int] = {}
    fextra: dict[str, int] = {}
    for i in range(args.rounds):
        results["R"] = best(results["R"], asyncio.run(run_bare(port, n)))
        results["P"] = best(results["P"], asyncio.run(run_panoramisk(port, n)))
        got, extra = asyncio.run(run_acd(port, n, journal_dir=journal_base / f"a{i}"))
        results["A"] = best(results["A"], got)
        got, fextra = asyncio.run(run_acd(port, n, parse_all=True, journal_dir=journal_base / f"f{i}"))
        results["F"] = best(results["F"], got)
        results["S"] = best(results["S"], asyncio.run(run_acd(port, n, parse_all=True))[0])
    server.terminate()
    shutil.rmtree(journal_base, ignore_errors=True)
    r, p, a, f, sa = (results[k] for k in "RPAFS")
    assert r and p and a and f and sa

    def row(label: str, x: Rate, note: str = "") -> None:
        print(
            f"{label:<30}{x.wall:>10,.0f} events/s  {x.wall / r.wall:.2f} R  |"
            f"{x.cpu:>10,.0f} per CPU s  {x.cpu / r.cpu:.2f} R  {note}"
        )

    print(f"{'':<30}{'wall clock':>26}   |{'CPU time (all threads)':>28}")
    row("R bare framing+dict parser", r)
    row("P panoramisk Manager '*'", p)
    row(
        "A acd pipeline, journal",
        a,
        f"({extra['effects']} effects, {extra['anomalies']} anomalies; "
        f"{extra['records']} records fdatasync'd in {extra['fsyncs']} group commits)",
    )
    row("A' same, every event parsed", f, f"(the worst case; {fextra['fsyncs']} group commits)")
    row(
        "S A' with a writer stand-in",
        sa,
        f"(no journal: it costs A' {max(0.0, 1 - f.wall / sa.wall):.0%} wall, "
        f"{max(0.0, 1 - f.cpu / sa.cpu):.0%} CPU)",
    )
    print(f"  acd Framer alone, in memory: {framing_only(stream):,.0f} messages/s")
    print(f"  Asterisk's QueueStatus write rate ~106,000 messages/s: A is {a.wall / 106_000:.2f}x that")


if __name__ == "__main__":
    main()
