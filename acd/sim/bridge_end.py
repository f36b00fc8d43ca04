"""The end of a member's bridge with a caller, as every way of ending it sees it.

A bridged call ends by a hang-up on either side, a blind or an attended transfer, or a restart
(``endings.end_call``, ``transfers.atxfer_complete``). Each emits its own captured phase, but all
start alike: the call's timers stop, and the talk time and the queue_log figures are fixed at
that moment (app_queue's COMPLETE*/…TRANSFER lines end with the hold, the talk and the original
position, in whole seconds of the wall clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from acd.sim.entities import Call, Leg, Queue

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx

__all__ = ["BridgeEnd", "end_bridge"]


@dataclass(frozen=True, slots=True)
class BridgeEnd:
    """What every ending reports of the bridge that ends now."""

    queue: Queue
    agent: Leg
    talk: float  # seconds since the answer (the true record's talk time)
    hold: int  # whole seconds from the join to the answer (queue_log)
    talked: int  # whole seconds from the answer to now (queue_log, TalkTime)

    def log(self, pbx: Pbx, call: Call, verb: str, *data: object) -> None:
        """The queue_log line of this ending: ``verb``, its own ``data``, then hold, talk, position."""
        pbx.ql(call.uid1, self.queue.name, self.agent.name, verb, *data, self.hold, self.talked, call.origpos)


def end_bridge(pbx: Pbx, call: Call, agent: Leg) -> BridgeEnd:
    """``call``'s bridge with ``agent`` ends now: its timers stop; the figures are fixed."""
    call.cancel_timers()
    now = pbx.sched.now
    return BridgeEnd(
        queue=pbx.queues[call.queue],
        agent=agent,
        talk=now - call.connected_at,
        hold=int(call.connected_at) - int(call.joined_at),
        talked=int(now) - int(call.connected_at),
    )
