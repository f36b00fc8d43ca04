"""One demo run: Asterisk files, history, the simulator child, the daemon, the reps, and what the
user reads (acd/demo/console.py: banner, a status line every 10 s, a summary at the end).

Order matters: the history is written before the daemon starts, so the daemon loads it as it
loads any caller history at start (a customer cut off an hour ago is a callback now, nobody "called
just now"); the reps start once the daemon serves HTTP; at stop the reps go first (no request in
flight while the daemon drains), then the daemon (records flushed), then the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from acd.demo.center import (
    CALLBACK_DELAY_SECONDS,
    CALLBACK_SHARE,
    CUTOFF_SHARE,
    INBOUND_CONTEXT,
    QUEUES,
    Center,
    write_asterisk_files,
)
from acd.demo.console import banner, status_loop, summary
from acd.demo.history import HistoryResult, seed_history
from acd.demo.reps import RepDriver, RepStats
from acd.demo.tally import Tally
from acd.settings import Settings

__all__ = ["DemoOptions", "run_demo"]


@dataclass
class DemoOptions:
    seconds: float | None = None
    history_days: int = 31
    seed: int | None = None
    out: TextIO = field(default_factory=lambda: sys.stdout)


class _Stopped(Exception):
    """The simulator could not start: the reason was printed."""


class _Stop:
    """Ctrl-C (SIGINT) or SIGTERM: the first asks for a clean stop, wherever the demo is; a second
    one ends the process at once, the simulator child with it (it runs in a session of its own,
    so a terminal's Ctrl-C reaches only the demo, which stops everything in order)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.presses = 0
        self.child: asyncio.subprocess.Process | None = None

    def __call__(self) -> None:
        self.presses += 1
        if self.presses > 1:
            if self.child is not None and self.child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.child.kill()
            os._exit(1)
        self.event.set()

    @property
    def asked(self) -> bool:
        return self.event.is_set()


async def run_demo(center: Center, settings: Settings, options: DemoOptions) -> int:
    stop = _Stop()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    with tempfile.TemporaryDirectory(prefix="acd-demo-") as private:
        files = write_asterisk_files(center, settings, Path(private))
        # The history first: the simulator's clock starts when it does, right after it.
        history = await _history(center, settings, files, options, stop)
        if stop.asked:
            options.out.write("acd demo: stopped while recording the earlier days (acd.db keeps them)\n")
            return 130
        if history is not None and history.calling_back:
            files["callers"] = _callers_file(Path(private), history)
        try:
            sim = await _start_simulator(center, settings, files, options.seed)
        except _Stopped:
            return 1
        stop.child = sim
        try:
            return await _run(center, settings, options, sim, history, stop)
        finally:
            await _stop_simulator(sim)


def _callers_file(directory: Path, history: HistoryResult) -> Path:
    """The customers the history left waiting to call back, as the simulator's --callers file:
    they call in the live run's first minutes (the ones already due, a few seconds apart)."""
    path = directory / "callers"
    lines = [
        f"{max(delay, 5.0 + 10.0 * i):.1f} {number}" for i, (delay, number) in enumerate(history.calling_back)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def _history(
    center: Center, settings: Settings, files: dict[str, Path], options: DemoOptions, stop: _Stop
) -> HistoryResult | None:
    """The earlier days, recorded before the daemon starts (it loads them as caller history)."""
    if not options.history_days:
        return None
    out = options.out
    tty = out.isatty()
    said = False

    def progress(done: float) -> None:
        nonlocal said
        words = f"acd demo: recording {options.history_days} earlier days of traffic..."
        if tty:
            out.write(f"\r{words} {done:4.0%}")
        elif not said:
            out.write(words + "\n")
        said = True
        out.flush()

    result = await seed_history(
        center,
        settings,
        files,
        days=options.history_days,
        now=time.time(),
        seed=options.seed,
        progress=progress,
        stop=lambda: stop.asked,
    )
    if tty and said:
        out.write("\r\033[K")
    return result


async def _run(
    center: Center,
    settings: Settings,
    options: DemoOptions,
    sim: asyncio.subprocess.Process,
    history: HistoryResult | None,
    stop: _Stop,
) -> int:
    from acd.daemon import CannotListen, Daemon

    out = options.out
    daemon = Daemon(settings)
    tally = Tally()
    daemon.add_sink(tally.observe)
    code = 0
    reps: RepDriver | None = None
    started = time.monotonic()
    sim_started = time.time()
    try:
        try:
            await daemon.start()
        except CannotListen as err:
            print(f"acd demo: cannot listen: {err}", file=sys.stderr)
            return 2
        base_url = f"http://{settings.http.host}:{daemon.http_port}"
        await _logged_in(daemon)  # the simulator's reps and callers start at acd's login
        sim_started = tally.since = daemon.clock.now()
        reps = RepDriver(center, base_url, since=sim_started, seed=options.seed)
        await reps.start()
        banner(out, center, settings, base_url, history)
        status = asyncio.ensure_future(status_loop(out, daemon, tally, reps.stats))
        waiters = [asyncio.ensure_future(stop.event.wait()), asyncio.ensure_future(daemon.wait())]
        if options.seconds:
            waiters.append(asyncio.ensure_future(asyncio.sleep(options.seconds)))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in [*waiters, status]:
            w.cancel()
        if daemon.failed is not None:
            code = 1
    finally:
        # Closing time first (SIGUSR1: no new callers), so no caller asks acd's routing lookup
        # while the daemon stops: Asterisk would log each such lookup as a warning.
        with contextlib.suppress(ProcessLookupError):
            sim.send_signal(signal.SIGUSR1)
        if reps is not None:
            await reps.close()
        await daemon.stop()
    stats = reps.stats if reps is not None else RepStats()
    summary(out, tally, stats, time.monotonic() - started, daemon.clock.now() - sim_started)
    return code


async def _logged_in(daemon: Any, deadline: float = 20.0) -> None:
    """Until the daemon has read the simulator's state once (or ``deadline`` seconds)."""
    end = time.monotonic() + deadline
    while daemon.stats.resyncs < 1 and time.monotonic() < end and daemon.failed is None:
        await asyncio.sleep(0.05)


async def _start_simulator(
    center: Center, settings: Settings, files: dict[str, Path], seed: int | None
) -> asyncio.subprocess.Process:
    cmd = [
        sys.executable,
        "-m",
        "acd.cli",
        "sim",
        "--port",
        str(center.ami_port),
        "--speed",
        f"{center.speed:g}",
        "--rate",
        f"{center.rate:g}",
        "--agents",
        str(len(center.reps)),
        "--queues",
        ",".join(QUEUES),
        "--manager-conf",
        str(files["manager.conf"]),
        "--queues-conf",
        str(files["queues.conf"]),
        "--dialplan",
        str(files["extensions.conf"]),
        "--dialplan-context",
        INBOUND_CONTEXT,
        # Reps log in and callers start calling once acd is logged in: its routing lookup
        # listens by then, so no caller meets a closed port.
        "--hold",
        # Asterisk's queue_log, beside acd.db: acd fills its gaps from it, as in production.
        "--queue-log",
        settings.queue_log.path,
        # Every rep answers (no rep the queue rings in vain), and a caller cut off mid-call
        # redials within a few minutes, as people do.
        "--slow-agents",
        "0",
        "--callback-delay",
        f"{CALLBACK_DELAY_SECONDS:g}",
        "--cutoff-share",
        f"{CUTOFF_SHARE:g}",
        "--callback-share",
        f"{CALLBACK_SHARE:g}",
    ]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if "callers" in files:
        cmd += ["--callers", str(files["callers"])]
    sim = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ),
        start_new_session=True,  # a terminal's Ctrl-C is the demo's to handle, in order
    )
    assert sim.stdout is not None
    try:
        line = await asyncio.wait_for(sim.stdout.readline(), 20)
    except TimeoutError:
        line = b"(nothing within 20 s)"
    if b"AMI on" not in line:
        print(
            f"acd demo: the simulator did not start: {line.decode(errors='replace').strip()}", file=sys.stderr
        )
        await _stop_simulator(sim)
        raise _Stopped
    return sim


async def _stop_simulator(sim: asyncio.subprocess.Process) -> None:
    if sim.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            sim.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sim.wait(), 10)
    if sim.returncode is None:
        sim.kill()
        await sim.wait()
