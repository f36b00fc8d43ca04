"""Pure classifiers for a finished queue call: who ended it, and was it a cut-off.

Who ended a call (docs/asterisk.md, checked against every capture in tests/fixtures/ami):
  ``AgentComplete``'s ``Reason`` is not trusted alone. When the agent's bridged channel is hung up
  over AMI, Asterisk says ``Reason: caller`` (and queue_log COMPLETECALLER) although the agent side
  ended it. What holds: after ``AgentConnect``, the FIRST ``BridgeLeave``, ``SoftHangupRequest``,
  ``HangupRequest`` or ``Hangup`` on any of the call's channels (Local ``;2`` halves included)
  names the side that ended it. Exceptions, in order:
  1. a transfer event (``BlindTransfer``/``AttendedTransfer``) or ``Reason: transfer`` -> transfer;
  2. a ``SoftHangupRequest`` with the shutdown flag (Cause 4) came before any hang-up (the agent
     leaving the bridge to consult is no hang-up), or Asterisk sent ``Shutdown`` -> system;
  3. the caller's channel left the bridge first and then started a new leg before any hang-up on
     its side: the caller was redirected elsewhere (AMI Redirect out of the bridge) -> transfer;
  4. nothing was seen after the connect (acd attached late) -> fall back to ``Reason``.

Cut-off (docs/architecture.md, "The words"): an answered call that ended abnormally: a Q.850 cause outside the
operator's "normal" set (default 16 normal clearing, 17 busy, 19 no answer, 21 rejected) on either
leg, or the call lost to an Asterisk restart or an AMI gap. Cause 0 (Unknown, what a cancelled or
torn-down Local half reports) is never a cut-off by itself. A normally cleared call the agent
released after a short talk is a separate quality signal (agent-released short call); a cut-off is
never also one. When the operator counts short releases as cut-offs, such a call is a cut-off with
the reason ``agent_released_short`` (and not flagged short besides).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from acd.core.effects import EndedBy
from acd.core.fast_init import fast_init

__all__ = ["SHUTDOWN_FLAG", "CutoffPolicy", "Signal", "classify_cutoff", "ended_by"]

SHUTDOWN_FLAG = 4  # SoftHangupRequest Cause is a soft-hangup flag, not Q.850; 4 = AST_SOFTHANGUP_SHUTDOWN


@fast_init
@dataclass(frozen=True, slots=True)
class Signal:
    """One end-of-call signal seen after the connect, tagged with the side of the channel."""

    kind: str  # BridgeLeave | SoftHangupRequest | HangupRequest | Hangup | NewLeg
    side: Literal["caller", "agent", "other"]
    cause: int | None = None


@dataclass(frozen=True, slots=True)
class CutoffPolicy:
    normal_causes: frozenset[int] = frozenset({16, 17, 19, 21})
    short_call_seconds: float = 30.0
    short_agent_release_is_cutoff: bool = False


_HANGUPS = frozenset({"SoftHangupRequest", "HangupRequest", "Hangup"})


def ended_by(
    signals: Sequence[Signal], *, reason: str | None, transferred: bool, shutdown: bool
) -> EndedBy | None:
    """Apply the rule above. ``signals`` are in arrival order, starting after AgentConnect."""
    if transferred or reason == "transfer":
        return "transfer"
    for s in signals:  # the shutdown reached the call before anyone hung up (a hold is no end)
        if s.kind == "SoftHangupRequest" and s.cause == SHUTDOWN_FLAG:
            return "system"
        if s.kind in _HANGUPS:
            break
    first = next((s for s in signals if s.kind != "NewLeg"), None)
    if first is None:
        if shutdown:
            return "system"
        return "caller" if reason == "caller" else "agent" if reason == "agent" else None
    if shutdown or (first.kind == "SoftHangupRequest" and first.cause == SHUTDOWN_FLAG):
        return "system"
    if first.side == "caller" and first.kind == "BridgeLeave":
        start = signals.index(first)
        for later in signals[start + 1 :]:
            if later.side == "caller" and later.kind in _HANGUPS:
                break
            if later.kind == "NewLeg":
                return "transfer"
    if first.side == "other":
        return "transfer"
    return "caller" if first.side == "caller" else "agent"


def _abnormal(causes: Iterable[int | None], normal: frozenset[int]) -> list[int]:
    return sorted({c for c in causes if c is not None and c != 0 and c not in normal})


def classify_cutoff(
    *,
    answered: bool,
    caller_causes: Iterable[int | None],
    agent_causes: Iterable[int | None],
    ended: str | None,
    talk_seconds: float,
    lost: str | None,
    policy: CutoffPolicy,
) -> tuple[bool, tuple[str, ...], bool]:
    """Return (cut_off, reasons, agent_released_short). Reasons are stable strings for storage."""
    if not answered:
        return False, (), False
    reasons: list[str] = []
    for cause in _abnormal(caller_causes, policy.normal_causes):
        reasons.append(f"caller_cause_{cause}")
    for cause in _abnormal(agent_causes, policy.normal_causes):
        reasons.append(f"agent_cause_{cause}")
    if lost:
        reasons.append(lost)
    # A short release is of a normally cleared call: a cut-off is never also one.
    short = not reasons and ended == "agent" and talk_seconds < policy.short_call_seconds
    if short and policy.short_agent_release_is_cutoff:
        return True, ("agent_released_short",), False
    return bool(reasons), tuple(reasons), short
