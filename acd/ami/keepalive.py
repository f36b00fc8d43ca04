"""The timers that run while a session is up: the Ping watchdog and the FullyBooted stand-in.

Why a watchdog: a peer that vanished without a FIN or RST (a crashed host, a dropped NAT entry)
leaves a half-open socket on which nothing ever arrives, and a quiet PBX looks the same. The
watchdog Pings an idle-looking link so that a live Asterisk says something, and drops the
connection when, while a Ping waits for its answer, nothing at all has arrived for
``ping_timeout`` seconds; the reconnect loop takes over. Any answer, even an error, proves the
peer alive.

Why silence and not a late answer: Asterisk answers a session's actions in order, on the socket
that carries its events. A Ping written behind a 10,000-member ``QueueStatus`` answer, during a
burst of tens of thousands of events, is answered only once all of that was written and read:
seconds late on a loaded machine, from a peer that is plainly alive (bench/bench_burst.py saw
answers more than 10 s late beside a CPU load). Dropping that link would throw away the events in
flight and start another resync, the very load that made the answer late.

No time bound applies while bytes keep coming, on purpose. One thread serves a manager session
in Asterisk: it writes the session's queued events and runs its actions in turn (manager.c's
``do_message``), so a session stuck in an action writes no events either, falls silent and is
dropped here. Traffic with a late answer is a backlog draining, and cutting the link would lose
it. A Ping still unanswered after ``patience`` (the client's action timeout) is noticed instead:
counted as an action timeout (``acd_ami_problems_total{kind="action_timeout"}``) and logged, since
every action written with it (a routing ``Redirect``, a resync's read) has failed the same way;
and a peer that streams and never answers (not Asterisk: a broken proxy) shows there, Ping after
Ping, without acd cutting a live stream.

Why a stand-in: a manager user without read class ``system`` never receives ``FullyBooted``, yet
the resync waits for it; after ``booted_fallback`` seconds the client stands in for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from acd.ami.actions import ActionResult, AmiActionError, AmiNotConnected, AmiTimeout
from acd.ami.notices import AmiStats
from acd.ami.protocol import AmiProtocol
from acd.ami.sending import Sleep, within

__all__ = ["ping_watchdog", "stand_in_for_boot"]

log = structlog.get_logger("acd.ami")

Ping = Callable[[AmiProtocol, float], Awaitable[ActionResult]]


async def ping_watchdog(
    proto: AmiProtocol,
    ping: Ping,
    *,
    interval: float,
    timeout: float,
    patience: float,
    clock: Callable[[], float],
    sleep: Sleep,
    stats: AmiStats,
) -> None:
    """Every ``interval`` seconds ``ping`` the connection and wait for the answer; drop the
    connection when nothing was received for ``timeout`` seconds meanwhile. An answer later than
    ``patience`` with bytes arriving meanwhile is logged and waited for no longer: the next Ping
    goes ``interval`` later. Never two Pings at once. Ends with the connection."""
    patience = max(patience, timeout)  # a shorter wait would hide a silent peer
    while not proto.closed:
        await sleep(interval)
        sent = clock()
        answer = asyncio.ensure_future(ping(proto, patience))
        try:
            while True:
                heard = max(sent, proto.last_received)
                try:
                    await within(asyncio.shield(answer), heard + timeout - clock(), sleep)
                    break  # answered
                except AmiTimeout:
                    raise  # the Ping's own wait ran out (``patience``), not this one
                except TimeoutError:
                    if proto.last_received + timeout > clock():
                        continue  # bytes came meanwhile: alive, the answer is queued behind them
                    _silent(proto, stats, timeout)
                    return
        except AmiActionError:
            continue  # an answer, even an error, proves the peer alive
        except AmiTimeout:
            if proto.last_received + timeout <= clock():
                _silent(proto, stats, timeout)  # both waits ran out at once
                return
            # Bytes kept coming: a backlog, not a death.
            log.warning(
                "ami_ping_late",
                waited=patience,
                note="Asterisk kept sending but has not answered the Ping: acd reads it this far behind",
            )
        except AmiNotConnected:
            return
        finally:
            if not answer.done():
                answer.cancel()


def _silent(proto: AmiProtocol, stats: AmiStats, timeout: float) -> None:
    stats.ping_timeouts += 1
    proto.drop(f"no answer to Ping and nothing received for {timeout:g}s")


async def stand_in_for_boot(delay: float, sleep: Sleep, fire: Callable[[], None]) -> None:
    """Call ``fire`` after ``delay`` seconds unless cancelled first (``FullyBooted`` came)."""
    await sleep(delay)
    fire()
