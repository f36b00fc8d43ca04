"""Trunks between simulators: ``Dial(IAX2/<peer>/<exten>)`` and ``Dial(PJSIP/<exten>@<peer>)`` to
another simulated Asterisk in the same process (:meth:`Simulator.join_trunk`), so a call can be
passed from one server to another as over a real trunk.

What crosses the trunk is what Asterisk carries at call setup: the caller id, the extension, and
for IAX2 the variables set with ``IAXVAR()`` on the calling channel (chan_iax2 sends them with the
call), for PJSIP the headers a ``b()`` predial handler added with ``PJSIP_HEADER(add,...)`` on
the outbound channel. The receiving simulator starts a new call (its own ids, its own Linkedid)
in the trunk's context, with the channel type and those values readable there
(``CHANNEL(channeltype)``, ``IAXVAR()``, ``PJSIP_HEADER(read,...)``). The caller's script (how
long they wait, talk, how the call ends) travels with the call: the receiving side plays it, and
the sending side's caller hangs up when the call there is over (Dial() returns, the channel goes).

Not simulated: ringing and answer over the trunk (the receiving side answers at once), a hang-up
on the sending side while the call is on the trunk, and trunk failures (an unknown peer is a
dialplan error, not CHANUNAVAIL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["IAXVAR", "PJSIP_IN", "PJSIP_OUT", "TECH", "TrunkDial", "carried", "parse_trunk_dial"]

TECH = "~TECH~"  # the channel type a trunk call's channel reports (else the channel name's)
IAXVAR = "~IAXVAR~"  # IAXVAR(name) on a channel: ~IAXVAR~name
PJSIP_OUT = "~PJSIP_ADD~"  # headers a predial handler added for the outbound PJSIP channel
PJSIP_IN = "~PJSIP_HDR~"  # headers of the INVITE an inbound PJSIP channel came with


@dataclass(frozen=True, slots=True)
class TrunkDial:
    tech: str  # IAX2 | PJSIP
    peer: str
    exten: str


def parse_trunk_dial(dest: str) -> TrunkDial | None:
    """``IAX2/<peer>/<exten>`` or ``PJSIP/<exten>@<peer>``; None for anything else."""
    m = re.fullmatch(r"IAX2/([^/@&]+)/([^/@&]+)", dest)
    if m:
        return TrunkDial("IAX2", m.group(1), m.group(2))
    m = re.fullmatch(r"PJSIP/([^/@&]+)@([^/@&]+)", dest)
    if m:
        return TrunkDial("PJSIP", m.group(2), m.group(1))
    return None


def carried(tech: str, variables: dict[str, str]) -> dict[str, str]:
    """What the outbound channel takes across the trunk, as the receiving channel's variables."""
    out = {TECH: tech}
    if tech == "IAX2":
        out.update({k: v for k, v in variables.items() if k.startswith(IAXVAR)})
    else:
        out.update(
            {PJSIP_IN + k[len(PJSIP_OUT) :]: v for k, v in variables.items() if k.startswith(PJSIP_OUT)}
        )
    return out
