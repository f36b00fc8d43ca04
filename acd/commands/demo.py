"""``acd demo``: the simulator and the daemon together on loopback, with SQLite. No PBX needed.

The simulator runs as a child process (``acd sim``), exactly as a separate Asterisk would: the
daemon reaches it only over AMI, with a manager secret made up for this run (acd has no built-in
one) and handed to the child on its standard input, never on its command line. Ctrl-C stops the
daemon cleanly (records flushed), then the child.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run a simulated call center and the daemon together (no Asterisk needed)",
        description="Start acd's Asterisk simulator and the daemon against it on loopback, with a "
        "SQLite file acd.db in this directory, and print where to look (/metrics, /healthz, the API). "
        "Ctrl-C stops both cleanly; then `acd report --since 1h` summarises what was recorded.",
    )
    p.add_argument("--speed", type=float, default=5.0, help="simulated seconds per wall second (default 5)")
    p.add_argument("--rate", type=float, default=6.0, help="simulated calls per minute (default 6)")
    p.add_argument("--agents", type=int, default=8, help="simulated agents (default 8)")
    p.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    p.add_argument(
        "--http-port",
        type=int,
        default=None,
        help="HTTP port (default: ACD_HTTP__PORT or 8080; when that one is taken, a free one)",
    )
    p.add_argument("--seconds", type=float, default=None, help="stop by itself after this many seconds")
    p.set_defaults(func=run)


DEMO_QUEUE_LOG = "queue_log"  # in the working directory, beside acd.db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(args: argparse.Namespace) -> int:
    from acd.logs import configure_logging, register_secret
    from acd.ports import bind_problem
    from acd.settings import load_settings

    base = load_settings()
    port = _free_port()
    http = base.http.model_dump()
    if args.http_port is not None:
        http["port"] = args.http_port
    elif bind_problem(http["host"], http["port"]) is not None:
        # A demo should just run: the default port is busy (another demo, a dashboard), take any.
        print(f"acd demo: port {http['port']} is taken; using a free port instead", file=sys.stderr)
        http["port"] = 0
    secret = secrets.token_urlsafe(18)
    settings = load_settings(
        ami={
            **base.ami.model_dump(),
            "host": "127.0.0.1",
            "port": port,
            "username": "acd",
            "secret": secret,
            "reconnect_min": 0.2,
        },
        http=http,
        # The simulator's demo center has no personal queues and its dialplan does not ask acd
        # where to route: no routing lookup port to hold, no affinity to warn about.
        routing={**base.routing.model_dump(), "port": 0},
        affinity={**base.affinity.model_dump(), "enabled": False},
        # The simulator writes Asterisk's queue_log here; acd fills its gaps from it.
        queue_log={**base.queue_log.model_dump(), "path": DEMO_QUEUE_LOG},
        speed=args.speed,
    )
    configure_logging(settings.log_format, settings.log_level)
    register_secret(settings.ami.secret)
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    return asyncio.run(_demo(settings, port, args))


async def _demo(settings: Any, port: int, args: argparse.Namespace) -> int:
    from acd.daemon import CannotListen, Daemon

    cmd = [
        sys.executable,
        "-m",
        "acd.cli",
        "sim",
        "--port",
        str(port),
        "--speed",
        str(args.speed),
        "--rate",
        str(args.rate),
        "--agents",
        str(args.agents),
        "--username",
        settings.ami.username,
        "--secret",
        "-",  # read from stdin: the secret stays out of the process list
        "--queue-log",
        DEMO_QUEUE_LOG,
    ]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    sim = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=dict(os.environ)
    )
    assert sim.stdout is not None and sim.stdin is not None
    sim.stdin.write(settings.ami.secret.get_secret_value().encode() + b"\n")
    await sim.stdin.drain()
    sim.stdin.close()
    line = await asyncio.wait_for(sim.stdout.readline(), 20)
    if b"AMI on" not in line:
        print(
            f"acd demo: the simulator did not start: {line.decode(errors='replace').strip()}", file=sys.stderr
        )
        return 1
    daemon = Daemon(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    presses = 0

    def on_signal() -> None:
        nonlocal presses
        presses += 1
        if presses > 1:
            os._exit(1)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    code = 0
    try:
        try:
            await daemon.start()
        except CannotListen as err:
            print(f"acd demo: cannot listen: {err}", file=sys.stderr)
            return 2
        host = settings.http.host
        print(
            "\n"
            f"  acd demo: a simulated call center ({args.agents} agents, {args.rate:g} calls/min, "
            f"{args.speed:g}x speed) on AMI 127.0.0.1:{port}\n"
            f"  metrics:  http://{host}:{daemon.http_port}/metrics\n"
            f"  health:   http://{host}:{daemon.http_port}/healthz\n"
            f"  API:      http://{host}:{daemon.http_port}/api/openapi.json\n"
            f"  records:  {settings.database.url}   (try: acd report --since 1h)\n"
            "  Ctrl-C stops it.\n",
            flush=True,
        )
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(daemon.wait())]
        if args.seconds:
            waiters.append(asyncio.ensure_future(asyncio.sleep(args.seconds)))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        if daemon.failed is not None:
            code = 1
    finally:
        await daemon.stop()
        with contextlib.suppress(ProcessLookupError):
            sim.send_signal(signal.SIGTERM)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(sim.wait(), 10)
        if sim.returncode is None:
            sim.kill()
    print(f"acd demo: stopped; {daemon.stats.events} AMI events processed", flush=True)
    return code
