"""The review pages' data: the calls :func:`acd.reads.review.review_flags` flags, the words each
reason is shown in, and one call's chain (:func:`acd.reads.calls.chain_view`) arranged as the
credit adjustment's forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acd.reads.call_lists import chain_view
from acd.reads.review import Flagged, review_flags
from acd.store.reviews import reviews_of
from acd.web.app import Pages
from acd.web.format import points

__all__ = [
    "REASONS",
    "STATUSES",
    "CreditForm",
    "call_flags",
    "call_reviews",
    "credit_forms",
    "flagged_calls",
    "read_chain",
    "rep_names",
]

REASONS = {
    "notes": "notes empty or too short",
    "short": "released early by the rep",
    "repeat_after_resolved": "marked resolved, customer called again within 24 h",
    "open_order": "order still open after a day",
    "credit_disputed": "different points posted for one sale",
}
STATUSES = {"open": "still to review", "reviewed": "reviewed", "all": "all"}


async def flagged_calls(
    pages: Pages,
    since: float,
    *,
    agent: str | None = None,
    reason: str | None = None,
    status: str | None = None,
    limit: int = 200,
) -> list[Flagged]:
    """Flagged customer calls that began since ``since``, newest first (the page is a supervisor's:
    notes shown); ``status`` "open" or "reviewed" keeps one side."""
    now = pages.clock()
    async with pages.engine.connect() as conn:
        return await review_flags(
            conn,
            pages.settings.server_id,
            since,
            now + 1.0,
            now=now,
            agent=agent,
            reason=reason,
            status=status,
            limit=limit,
        )


async def call_flags(pages: Pages, linkedid: str) -> Flagged | None:
    """The call's reasons for a look now, with its latest review; None when it is not flagged."""
    now = pages.clock()
    async with pages.engine.connect() as conn:
        found = await review_flags(
            conn, pages.settings.server_id, 0.0, now + 1.0, now=now, linkedid=linkedid, limit=1
        )
    return found[0] if found else None


async def call_reviews(pages: Pages, linkedid: str) -> list[dict[str, Any]]:
    """Every review of the call, oldest first."""
    async with pages.engine.connect() as conn:
        return await reviews_of(conn, pages.settings.server_id, linkedid)


async def read_chain(pages: Pages, linkedid: str) -> dict[str, Any] | None:
    """The chain the call belongs to, notes shown (the review pages are a supervisor's)."""
    async with pages.engine.connect() as conn:
        return await chain_view(conn, pages.settings.server_id, linkedid, show_notes=True, now=pages.clock())


@dataclass
class ShareField:
    agent: str
    name: str
    role: str  # the rep's current attribution on the sale, or "no share yet"
    value: str  # what the points field holds


@dataclass
class CreditForm:
    """One sale of the chain and the adjustment form for it: a points field for every rep of the
    chain (those with a share prefilled with it)."""

    sale_id: str
    seq: int
    points: float | None
    settled: bool
    disputed: bool
    adjusted: bool
    order: dict[str, Any] | None
    shares: list[dict[str, Any]]
    fields: list[ShareField] = field(default_factory=list)
    reason: str = ""


def rep_names(chain: dict[str, Any]) -> dict[str, str]:
    """agent -> name of every rep who had a call of the chain, in chain order."""
    reps: dict[str, str] = {}
    for call in chain["calls"]:
        if call["agent"] and call["agent"] not in reps:
            reps[call["agent"]] = call["agent_name"] or call["agent"]
    return reps


def credit_forms(chain: dict[str, Any], typed: dict[str, Any] | None = None) -> list[CreditForm]:
    """One form per sale of ``chain``; ``typed`` (sale, points by agent, reason) refills the form a
    refused adjustment came from."""
    reps = rep_names(chain)
    forms = []
    for n, sale in enumerate(chain["sales"], 1):
        current = {s["agent"]: s for s in sale["shares"]}
        again = typed is not None and typed.get("sale") == sale["sale_id"]
        form = CreditForm(
            sale_id=sale["sale_id"],
            seq=n,
            points=sale["points"],
            settled=sale["settled"],
            disputed=sale["credit_disputed"],
            adjusted=sale["adjusted"],
            order=sale["order"],
            shares=sale["shares"],
            reason=str(typed.get("reason", "")) if typed is not None and again else "",
        )
        names = dict(reps)
        for agent, share in current.items():
            names.setdefault(agent, share["agent_name"] or agent)
        for agent, name in names.items():
            share = current.get(agent)
            value = points(share["points"]) if share is not None else ""
            if again and typed is not None:
                value = typed.get("points", {}).get(agent, value)
            role = share["attribution"].replace("_", " ") if share is not None else "no share yet"
            form.fields.append(ShareField(agent, name, role, value))
        forms.append(form)
    return forms
