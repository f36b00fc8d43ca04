"""The facts acd records, said in words a rep reads at a glance (the pop, the desk, the review).

Only wording lives here: which reason a call has, and whether it was cut off, comes from the core's
records. Q.850 causes are named for the few a center meets; others show their number.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["cause_words", "credit_rule", "ending", "routing_reason"]

_CAUSES = {
    1: "number unknown",
    3: "no route",
    18: "no answer from the phone",
    27: "line out of order",
    31: "network ended it",
    34: "no circuit available",
    38: "network out of order",
    41: "temporary network failure",
    42: "network congestion",
    102: "timer expired",
    127: "interworking failure",
}


def cause_words(cause: int) -> str:
    name = _CAUSES.get(cause)
    return f"{name} (cause {cause})" if name else f"cause {cause}"


def _reason_words(reason: str) -> str:
    if reason.startswith("caller_cause_"):
        return "the customer's line dropped: " + cause_words(int(reason.rsplit("_", 1)[1]))
    if reason.startswith("agent_cause_"):
        return "the rep's line dropped: " + cause_words(int(reason.rsplit("_", 1)[1]))
    return {
        "asterisk_restart": "lost when Asterisk restarted",
        "ami_gap": "lost while acd could not see Asterisk",
        "agent_released_short": "the rep released it after a short talk",
    }.get(reason, reason.replace("_", " "))


def ending(
    *,
    answered: bool,
    cut_off: bool,
    reasons: Sequence[str],
    ended_by: str | None,
    agent_released_short: bool,
    talk_seconds: float,
) -> tuple[str, str]:
    """(short label, sentence) for how a call ended; the label is also a CSS class hint."""
    if not answered:
        return "not answered", "Nobody answered this call."
    if cut_off:
        return "cut off", "Cut off: " + "; ".join(_reason_words(r) for r in reasons) + "."
    if agent_released_short:
        return "released by the rep", f"The rep ended it after {talk_seconds:.0f} s."
    if ended_by == "agent":
        return "ended by the rep", "The rep ended the call normally."
    if ended_by == "caller":
        return "normal", "The customer hung up normally."
    if ended_by == "transfer":
        return "transferred", "The call was transferred."
    return "ended", "The call ended (who hung up is not known)."


def _unavailable(them: str, detail: str, pause_now: str | None) -> str:
    kind, _, pause = detail.partition(":")
    if kind in ("paused", "paused_for_callbacks"):
        pause = pause or pause_now or ""
        return f"{them} is paused ({pause})" if pause else f"{them} is paused"
    return {
        "logged_out": f"{them} has logged out",
        "device_unavailable": f"{them}'s phone is unavailable",
        "not_a_member": f"{them} does not take calls in this queue",
    }.get(kind, f"{them} is not available (on a break, paused or logged out)")


def routing_reason(
    reason: str | None, previous: str | None, *, you: bool, detail: str = "", pause_now: str | None = None
) -> str | None:
    """Why this call reached this rep, from the routing decision's reason and its detail (logged
    out, paused and why; ``pause_now``: the earlier rep's pause reason as the live picture has it)."""
    them = previous or "the rep who had the earlier call"
    if reason == "original_agent":
        return "It came to you because you had this customer's call." if you else f"It went back to {them}."
    if reason == "fallback_busy_timeout":
        return f"{them} was busy longer than the customer should wait, so it went to the queue."
    if reason == "fallback_unavailable":
        return _unavailable(them, detail or "", pause_now) + ", so it went to the queue."
    if reason == "fallback_no_answer":
        return f"{them} did not answer, so it went to the queue."
    if reason == "fallback_other_server":
        server = detail.partition(":")[2]
        where = f"server {server}" if server else "another server"
        return f"{them} had the call on {where} and does not take calls here, so it went to the queue."
    if reason == "ineligible":
        return "Callback routing does not apply to this call (anonymous caller, or routing is off)."
    return None


def credit_rule(policy: str, original_share: float) -> str:
    """The center's credit policy for a callback chain's sale, in words."""
    if policy == "original":
        return "all points to the rep who first had the customer"
    if policy == "closer":
        return "all points to the rep who closed the sale"
    return (
        f"the rep who first had the customer gets {original_share:.0%} of the points, "
        "the rep who closed the sale the rest"
    )
