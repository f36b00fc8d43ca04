"""Sales credit (pure): who gets the points of a sale, and why.

A **sale** lives on a callback chain (a cut-off call plus the callbacks linked to it, transitively:
A cut off, B's callback cut off again, C closes is one chain; a call outside any chain is a chain of
its own). The outcomes posted anywhere in the chain, in the order they were written, make up its
sales:

* An outcome that names a different order reference than the sale's order starts a separate sale;
  every other outcome belongs to the chain's current sale. Earlier posts are kept, not credited.
* Its **points** are those of the latest outcome with points. Two different non-null values posted
  in one sale mark it ``disputed`` (re-posting the same value does not).
* **Open order**: an outcome may leave an order open (reference, what is left); it stays open until
  an outcome of the sale closes it. A sale that had an order is *settled* by the outcome that closed
  it; one that never had an order by its latest outcome with points. Until then no share is
  credited.
* **Shares** go to the rep of the chain's first call (``original``) and the rep of the call whose
  outcome settled the sale (``closer``), by policy: ``original`` (all to the original rep),
  ``closer`` (all to the closer) or ``split`` (the original rep gets ``original_share`` of the
  points, the closer the rest). One rep who is both gets everything as ``own_call``. Reps of the
  chain's calls in between are on the record with 0 points as ``intermediate``. Both reps are
  always on the record, with 0 when the policy gives them nothing.
* A supervisor **adjustment** replaces a sale's shares (each rep keeps the attribution of their role
  in the chain) and stays in force until another adjustment; new outcomes still update the sale's
  points and dispute flag, and the sale stays marked ``adjusted``.

A sale is dated by its closer's call (its first arrival), so a report period holds all of a sale's
shares together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from acd.core.definitions import Attribution, CreditPolicy

__all__ = [
    "Adjustment",
    "ChainCall",
    "PostedOutcome",
    "Sale",
    "Share",
    "chain_roles",
    "settle_chain",
]


@dataclass(frozen=True, slots=True)
class ChainCall:
    """One customer call of the chain, in chain order (``seq`` 0 is the first cut-off)."""

    linkedid: str
    seq: int
    agent: str | None
    agent_name: str | None
    joined_at: float
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class PostedOutcome:
    id: int  # the store's id: ties on ``written_at`` keep insertion order
    linkedid: str
    agent: str | None
    points: float | None
    order_ref: str | None
    order_status: Literal["open", "closed"] | None
    order_left: str | None
    written_at: float


@dataclass(frozen=True, slots=True)
class Share:
    agent: str
    agent_name: str | None
    linkedid: str  # the rep's call in the chain
    points: float
    attribution: Attribution


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A supervisor's new shares for one sale (the latest one wins)."""

    sale_id: str
    shares: tuple[tuple[str, float], ...]  # (agent, points)
    at: float


@dataclass(frozen=True, slots=True)
class Sale:
    sale_id: str
    chain_id: str
    seq: int  # 1-based order of the sale in its chain
    points: float | None
    disputed: bool
    settled: bool
    order_ref: str | None
    order_open: bool
    order_left: str | None
    order_opened_at: float | None
    original_call: str
    closer_call: str | None
    queue: str | None  # the closer call's queue (the first outcome's call's until settled)
    at: float  # the closer call's first arrival (the first outcome's call's until settled)
    updated_at: float  # the latest outcome's time
    outcome_ids: tuple[int, ...]
    shares: tuple[Share, ...] = ()
    adjusted: bool = False


@dataclass(slots=True)
class _Draft:
    outcomes: list[PostedOutcome] = field(default_factory=list)
    order_ref: str | None = None


def sale_id(chain_id: str, seq: int) -> str:
    return chain_id if seq == 1 else f"{chain_id}/{seq}"


def _group(outcomes: Sequence[PostedOutcome]) -> list[_Draft]:
    drafts: list[_Draft] = []
    for outcome in sorted(outcomes, key=lambda o: (o.written_at, o.id)):
        current = drafts[-1] if drafts else None
        ref = outcome.order_ref
        if current is None or (ref is not None and current.order_ref not in (None, ref)):
            current = _Draft()
            drafts.append(current)
        if ref is not None and current.order_ref is None:
            current.order_ref = ref
        current.outcomes.append(outcome)
    return drafts


def chain_roles(chain: Sequence[ChainCall], closer_call: str | None) -> dict[str, Attribution]:
    """Each rep of the chain's role for a sale closed on ``closer_call``: original, closer, own_call
    (both), intermediate (a call in between). Reps after the closer have no role."""
    ordered = sorted(chain, key=lambda c: c.seq)
    if not ordered:
        return {}
    original = ordered[0].agent
    closer_seq = next((c.seq for c in ordered if c.linkedid == closer_call), ordered[-1].seq)
    closer = next((c.agent for c in ordered if c.linkedid == closer_call), None)
    roles: dict[str, Attribution] = {}
    for call in ordered:
        if call.agent is None or call.seq > closer_seq:
            continue
        if call.agent == original and call.agent == closer:
            roles[call.agent] = "own_call"
        elif call.agent == original:
            roles[call.agent] = "original"
        elif call.agent == closer:
            roles[call.agent] = "closer"
        else:
            roles.setdefault(call.agent, "intermediate")
    return roles


def _shares(
    chain: Sequence[ChainCall],
    closer: ChainCall,
    points: float,
    policy: CreditPolicy,
    original_share: float,
) -> tuple[Share, ...]:
    ordered = sorted(chain, key=lambda c: c.seq)
    first = ordered[0]
    if first.agent is None or first.agent == closer.agent:
        if closer.agent is None:
            return ()
        return (Share(closer.agent, closer.agent_name, closer.linkedid, points, "own_call"),)
    to_original = {"original": points, "closer": 0.0, "split": points * original_share}[policy]
    out = [Share(first.agent, first.agent_name, first.linkedid, to_original, "original")]
    if closer.agent is not None:
        out.append(Share(closer.agent, closer.agent_name, closer.linkedid, points - to_original, "closer"))
    named = {first.agent, closer.agent}
    for call in ordered:
        if 0 < call.seq < closer.seq and call.agent is not None and call.agent not in named:
            named.add(call.agent)
            out.append(Share(call.agent, call.agent_name, call.linkedid, 0.0, "intermediate"))
    return tuple(out)


def settle_chain(
    chain_id: str,
    chain: Sequence[ChainCall],
    outcomes: Iterable[PostedOutcome],
    *,
    policy: CreditPolicy,
    original_share: float = 0.5,
    adjustments: Mapping[str, Adjustment] | None = None,
) -> list[Sale]:
    """Every sale of one chain with its shares (rules in the module docstring).

    ``chain`` holds the chain's customer calls; an outcome on a call missing from it (written before
    its call was recorded) counts as posted on a call of its own at the end of the chain.
    """
    calls = {c.linkedid: c for c in chain}
    ordered = sorted(chain, key=lambda c: c.seq)
    posted = list(outcomes)
    last_seq = ordered[-1].seq if ordered else -1
    for outcome in posted:
        if outcome.linkedid not in calls:
            last_seq += 1
            calls[outcome.linkedid] = ChainCall(
                outcome.linkedid, last_seq, outcome.agent, None, outcome.written_at
            )
    full = sorted(calls.values(), key=lambda c: c.seq)
    first = full[0] if full else None
    sales: list[Sale] = []
    for n, draft in enumerate(_group(posted), 1):
        sid = sale_id(chain_id, n)
        valued = [o for o in draft.outcomes if o.points is not None]
        points = valued[-1].points if valued else None
        disputed = len({o.points for o in valued}) > 1
        had_order = open_now = False
        opened_at: float | None = None
        left: str | None = None
        closed_by: PostedOutcome | None = None
        for o in draft.outcomes:
            if o.order_status == "open":
                if not open_now:
                    opened_at = o.written_at
                had_order = open_now = True
                left = o.order_left
            elif o.order_status == "closed" and had_order:
                open_now = False
                left = None
                closed_by = o
        settling = closed_by if had_order else (valued[-1] if valued else None)
        settled = settling is not None and not open_now and points is not None
        anchor = calls[settling.linkedid] if settling is not None else calls[draft.outcomes[0].linkedid]
        shares: tuple[Share, ...] = ()
        if settled and points is not None:
            shares = _shares(full, anchor, points, policy, original_share)
        adjusted = False
        adjustment = (adjustments or {}).get(sid)
        if adjustment is not None:
            adjusted = True
            roles = chain_roles(full, anchor.linkedid)
            names = {c.agent: c for c in full if c.agent is not None}
            shares = tuple(
                Share(
                    agent,
                    names[agent].agent_name if agent in names else None,
                    names[agent].linkedid if agent in names else anchor.linkedid,
                    amount,
                    roles.get(agent, "intermediate"),
                )
                for agent, amount in adjustment.shares
            )
        sales.append(
            Sale(
                sale_id=sid,
                chain_id=chain_id,
                seq=n,
                points=points,
                disputed=disputed,
                settled=settled,
                order_ref=draft.order_ref,
                order_open=open_now,
                order_left=left,
                order_opened_at=opened_at if open_now else None,
                original_call=first.linkedid if first is not None else chain_id,
                closer_call=anchor.linkedid if settled else None,
                queue=anchor.queue,
                at=anchor.joined_at,
                updated_at=max(o.written_at for o in draft.outcomes),
                outcome_ids=tuple(o.id for o in draft.outcomes),
                shares=shares,
                adjusted=adjusted,
            )
        )
    return sales
