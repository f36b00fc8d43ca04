"""The timers that run while a session is up: the Ping watchdog and the FullyBooted stand-in.

Why a watchdog: a peer that vanished without a FIN or RST (a crashed host, a dropped NAT entry)
leaves a half-open socket on which nothing ever arrives, and a quiet PBX looks the same. A Ping
unanswered within ``ping_timeout`` drops the connection, and the reconnect loop takes over; any
answer, even an error, proves the peer alive.

Why a stand-in: a manager user without read class ``system`` never receives ``FullyBooted``, yet
the resync waits for it; after ``booted_fallback`` seconds the client stands in for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from acd.ami.actions import ActionResult, AmiActionError, AmiNotConnected, AmiTimeout
from acd.ami.notices import AmiStats
from acd.ami.protocol import AmiProtocol
from acd.ami.sending import Sleep

__all__ = ["ping_watchdog", "stand_in_for_boot"]

Ping = Callable[[AmiProtocol, float], Awaitable[ActionResult]]


async def ping_watchdog(
    proto: AmiProtocol, ping: Ping, *, interval: float, timeout: float, sleep: Sleep, stats: AmiStats
) -> None:
    """Every ``interval`` seconds ``ping`` the connection; drop it when an answer takes longer than
    ``timeout``. Ends with the connection."""
    while not proto.closed:
        await sleep(interval)
        try:
            await ping(proto, timeout)
        except AmiActionError:
            continue  # an answer, even an error, proves the peer alive
        except AmiTimeout:
            stats.ping_timeouts += 1
            proto.drop(f"no answer to Ping within {timeout:g}s")
            return
        except AmiNotConnected:
            return


async def stand_in_for_boot(delay: float, sleep: Sleep, fire: Callable[[], None]) -> None:
    """Call ``fire`` after ``delay`` seconds unless cancelled first (``FullyBooted`` came)."""
    await sleep(delay)
    fire()
