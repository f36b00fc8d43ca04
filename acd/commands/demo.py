"""``acd demo``: a simulated call center, the daemon and reps at work, on loopback. No PBX needed.

The simulator runs as a child process (``acd sim``), exactly as a separate Asterisk would: the
daemon reaches it only over AMI, and the simulator's callers ask acd where to go over the routing
lookup, with the files ``acd asterisk-config`` writes (acd/demo/center.py). The secrets are made up
for this run and the simulator reads them from its private copy of manager.conf, never from its
command line. Ctrl-C stops the reps, the daemon (records flushed), then the child.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys

from acd.demo.run import DemoOptions

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run a simulated call center, the daemon and reps at work (no Asterisk needed)",
        description="Start acd's Asterisk simulator with the routing dialplan and personal queues acd "
        "generates, the daemon against it, and simulated reps who post outcomes as real ones would; "
        "seed earlier days of traffic so every window has figures; print the pages, sign-ins and a "
        "status line every 10 s. Records go to acd.db in this directory. Ctrl-C stops it and prints "
        "a summary and the acd report command to run.",
    )
    p.add_argument("--speed", type=float, default=5.0, help="simulated seconds per wall second (default 5)")
    p.add_argument("--rate", type=float, default=6.0, help="simulated calls per minute (default 6)")
    p.add_argument(
        "--agents",
        type=int,
        default=None,
        help="reps on the phones (default: as many as 80%% answered within 20 s needs at --rate)",
    )
    p.add_argument(
        "--history",
        type=int,
        default=31,
        metavar="DAYS",
        help="days of earlier traffic to record first, dated in the past (default 31; 0: none)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed for a reproducible center")
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
    from acd.demo.center import make_center
    from acd.demo.run import run_demo
    from acd.logs import configure_logging, register_secret
    from acd.ports import bind_problem
    from acd.settings import load_settings

    for name, value, low in (("--speed", args.speed, 0.1), ("--rate", args.rate, 0.1)):
        if value < low:
            print(f"acd demo: {name} must be at least {low:g}", file=sys.stderr)
            return 2
    if (args.agents is not None and args.agents < 1) or args.history < 0:
        print("acd demo: --agents must be at least 1 and --history at least 0", file=sys.stderr)
        return 2
    base = load_settings()
    http = base.http.model_dump()
    if args.http_port is not None:
        http["port"] = args.http_port
    elif bind_problem(http["host"], http["port"]) is not None:
        # A demo should just run: the default port is busy (another demo, a dashboard), take any.
        print(f"acd demo: port {http['port']} is taken; using a free port instead", file=sys.stderr)
        http["port"] = 0
    center = make_center(
        rate=args.rate, speed=args.speed, reps=args.agents, ami_port=_free_port(), lookup_port=_free_port()
    )
    # The demo talks through its own lines; the daemon's log says only what needs attention,
    # unless the operator asked for more with ACD_LOG_LEVEL.
    level = base.log_level if "ACD_LOG_LEVEL" in {k.upper() for k in os.environ} else "warning"
    settings = load_settings(
        **center.settings_overrides(base),
        http=http,
        log_level=level,
        # The simulator writes Asterisk's queue_log here; acd fills its gaps from it.
        queue_log={**base.queue_log.model_dump(), "path": DEMO_QUEUE_LOG},
    )
    configure_logging(settings.log_format, settings.log_level)
    for secret in (center.ami_secret, center.phones_secret, center.supervisor_token, center.wallboard_token):
        register_secret(secret)
    for rep in center.reps:
        register_secret(rep.token)
    options = DemoOptions(seconds=args.seconds, history_days=args.history, seed=args.seed)
    return asyncio.run(run_demo(center, settings, options))
