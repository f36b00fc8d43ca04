"""Credit policy (pure): who gets a call's points when a callback finishes another agent's work.

``original``: the agent whose call was cut off keeps the credit; ``closer``: the agent who finished
it takes it; ``split``: half each. Both agents are always on the record (the one who gets nothing
with 0 points), so a report can show who started and who finished the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CreditShare", "attribute_credit"]

Policy = Literal["original", "closer", "split"]


@dataclass(frozen=True, slots=True)
class CreditShare:
    agent: str
    agent_name: str | None
    points: float
    reason: str  # own_call | original_agent | closer | split_original | split_closer


def attribute_credit(
    policy: Policy,
    points: float,
    closer: str | None,
    closer_name: str | None,
    original: str | None = None,
    original_name: str | None = None,
) -> list[CreditShare]:
    """The credit rows for one outcome. No closer: nobody to credit (an unanswered call)."""
    if closer is None:
        if original is None:
            return []
        return [CreditShare(original, original_name, points, "original_agent")]
    if original is None or original == closer:
        return [CreditShare(closer, closer_name, points, "own_call")]
    if policy == "original":
        return [
            CreditShare(original, original_name, points, "original_agent"),
            CreditShare(closer, closer_name, 0.0, "closer"),
        ]
    if policy == "closer":
        return [
            CreditShare(original, original_name, 0.0, "original_agent"),
            CreditShare(closer, closer_name, points, "closer"),
        ]
    half = points / 2.0
    return [
        CreditShare(original, original_name, half, "split_original"),
        CreditShare(closer, closer_name, points - half, "split_closer"),
    ]
