"""``acd sim``: run the Asterisk stand-in (AMI server + simulated call center) on loopback."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _speed(text: str) -> float:
    if text in ("max", "inf"):
        return float("inf")
    v = _number(text)
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return v


def _between(low: float, high: float, unit: str = "") -> Callable[[str], float]:
    def parse(text: str) -> float:
        v = _number(text)
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}{unit}")
        return v

    return parse


_share = _between(0.0, 1.0)
_callback_delay = _between(20.0, 3000.0, " seconds")


FAULTS = ("drop", "drop-mid", "silent", "unsilent", "malformed", "restart")


def _fault(text: str) -> tuple[str, float, float]:
    kind, _, rest = text.partition("@")
    when, _, arg = rest.partition(":")
    if kind not in FAULTS:
        raise argparse.ArgumentTypeError(f"unknown fault {kind!r} (one of {', '.join(FAULTS)})")
    try:
        return kind, float(when), float(arg) if arg else 0.5
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KIND@SECONDS[:ARG], got {text!r}") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sim",
        help="run a simulated Asterisk (AMI) with a live call center",
        description="A stand-in for Asterisk on loopback: a real AMI server (manager.conf users, "
        "queues.conf, optionally a dialplan) and a simulated call center placing calls to its "
        "queues, with the true record of every call on request (--truth). `acd demo` runs it for you. "
        "SIGINT or SIGTERM stops it; SIGUSR1 stops placing calls (the calls in progress go on).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5038, help="AMI port (default 5038; 0: a free one)")
    p.add_argument("--username", help="an extra manager user with read=all write=all")
    p.add_argument(
        "--secret", help="that user's secret ('-': read it from standard input, out of the process list)"
    )
    p.add_argument(
        "--manager-conf", type=Path, help="manager.conf with the users (default: acd/sim/manager.conf)"
    )
    p.add_argument("--queues-conf", type=Path, help="queues.conf (default: acd/sim/queues.conf)")
    p.add_argument(
        "--dialplan", type=Path, help="extensions.conf to run callers through (e.g. acd/sim/extensions.conf)"
    )
    p.add_argument(
        "--dialplan-context", default="inbound", help="context callers enter (exten = their number)"
    )
    p.add_argument("--seed", type=int, help="seed for a reproducible run")
    p.add_argument(
        "--speed", type=_speed, default=1.0, help="simulated seconds per wall second ('max': as fast as read)"
    )
    p.add_argument("--truth", type=Path, help="write the true call records here (JSON lines)")
    p.add_argument("--queue-log", type=Path, help="write Asterisk's queue_log here, as app_queue does")
    p.add_argument(
        "--action-log",
        type=Path,
        help="write every AMI action received here (JSON lines: time, user, action)",
    )
    p.add_argument("--agents", type=int, default=6, help="agents logged in to the queues (default 6)")
    p.add_argument("--queues", help="comma-separated queues to staff and call (default: all)")
    p.add_argument("--rate", type=float, default=2.0, help="calls per minute (Poisson)")
    p.add_argument(
        "--cutoff-share", type=_share, default=0.08, help="share of answered calls cut off (default 0.08)"
    )
    p.add_argument(
        "--callback-share",
        type=_share,
        default=0.6,
        help="share of cut-off callers who call back within the hour (default 0.6)",
    )
    p.add_argument(
        "--repeat-share",
        type=_share,
        default=0.1,
        help="share of callers who call again about the same matter (default 0.1)",
    )
    p.add_argument(
        "--transfer-share",
        type=_share,
        default=0.05,
        help="share of answered calls (not cut off) ended by a transfer (default 0.05)",
    )
    p.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND@SECONDS[:ARG]",
        help="play a fault SECONDS (simulated) after traffic starts: drop, drop-mid, silent, "
        "unsilent, malformed, restart (ARG: wall seconds the port stays closed); repeatable",
    )
    p.add_argument(
        "--callback-delay",
        type=_callback_delay,
        metavar="SECONDS",
        help="mean time a cut-off caller takes to call back (default: evenly 1 to 26 minutes)",
    )
    p.add_argument(
        "--slow-agents",
        type=_share,
        default=0.1,
        metavar="SHARE",
        help="share of agents slow to answer, whose rings sometimes time out (default 0.1)",
    )
    p.add_argument(
        "--callers",
        type=Path,
        metavar="FILE",
        help="callers to place once the traffic starts: lines 'SECONDS NUMBER' (seconds after the start)",
    )
    p.add_argument("--calls", type=int, help="stop placing calls after N")
    p.add_argument("--duration", type=float, help="stop placing calls after this many simulated seconds")
    p.add_argument(
        "--hold", action="store_true", help="start agents and traffic when the first client logs in"
    )
    p.add_argument(
        "--linger",
        action="store_true",
        help="with --calls or --duration: keep serving AMI after the last call, as an idle PBX "
        "does, until stopped (SIGTERM or Ctrl-C)",
    )
    p.add_argument(
        "--systemname",
        default="",
        help="asterisk.conf's systemname: call ids become <name>-<epoch>.<n> (several servers, one database)",
    )
    p.add_argument(
        "--action-latency",
        type=float,
        default=0.01,
        help="simulated seconds each AMI action takes (default 0.01; 0 = instant)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from acd.sim import SimConfig, Simulator
    from acd.sim.conf_parser import ConfError
    from acd.sim.dialplan import DialplanError

    if (args.username is None) != (args.secret is None):
        print("acd sim: --username and --secret go together", file=sys.stderr)
        return 2
    if args.secret == "-":
        args.secret = sys.stdin.readline().strip()
        if not args.secret:
            print("acd sim: --secret -: nothing on standard input", file=sys.stderr)
            return 2
    try:
        callers = _callers(args.callers) if args.callers is not None else []
    except ValueError as err:
        print(f"acd sim: --callers {args.callers}: {err}", file=sys.stderr)
        return 2
    cfg = SimConfig(
        host=args.host,
        port=args.port,
        manager_conf=args.manager_conf,
        queues_conf=args.queues_conf,
        dialplan=args.dialplan,
        dialplan_context=args.dialplan_context,
        username=args.username,
        secret=args.secret,
        seed=args.seed,
        speed=args.speed,
        truth=args.truth,
        queue_log=args.queue_log,
        action_log=args.action_log,
        agents=args.agents,
        queues=[q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None,
        rate_per_min=args.rate,
        cutoff_share=args.cutoff_share,
        transfer_share=args.transfer_share,
        faults=args.fault,
        callback_delay_mean=args.callback_delay,
        slow_agent_share=args.slow_agents,
        callers=callers,
        callback_share=args.callback_share,
        repeat_share=args.repeat_share,
        max_calls=args.calls,
        duration=args.duration,
        hold_until_login=args.hold,
        action_latency=args.action_latency,
        systemname=args.systemname,
    )
    try:
        sim = Simulator(cfg)
    except (ConfError, DialplanError, ValueError) as err:
        print(f"acd sim: {err}", file=sys.stderr)
        return 2
    try:
        bounded = (args.calls is not None or args.duration is not None) and not args.linger
        return asyncio.run(_serve(sim, bounded))
    except KeyboardInterrupt:
        return 130


def _callers(path: Path) -> list[tuple[float, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(err.strerror or str(err)) from None
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        try:
            delay = float(parts[0])
        except (ValueError, IndexError):
            delay = -1.0
        if len(parts) != 2 or delay < 0 or not parts[1].isdigit():
            raise ValueError(f"line {lineno}: expected 'SECONDS NUMBER', got {line.strip()!r}")
        out.append((delay, parts[1]))
    return out


async def _serve(sim: object, bounded: bool) -> int:
    from acd.sim import Simulator

    assert isinstance(sim, Simulator)
    try:
        host, port = await sim.start()
    except OSError as err:
        print(f"acd sim: cannot listen: {err.strerror}", file=sys.stderr)
        return 1
    speed = "max" if sim.speed == float("inf") else f"{sim.speed:g}x"
    print(f"acd sim: AMI on {host}:{port} (speed {speed}, {len(sim.pbx.queues)} queues)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, sim.stop_traffic)
    waiters: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
    if bounded:
        waiters.append(asyncio.create_task(sim.wait_calls_done()))
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for w in waiters:
        w.cancel()
    await sim.stop()
    done = sim.traffic.done
    print(f"acd sim: stopped after {done} calls", flush=True)
    return 0
