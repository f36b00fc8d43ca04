"""One customer call as the pop and the desk show it: this call, the earlier call it is a callback
or repeat of (who had it, how it ended, their notes), why it reached this rep, what became of it
afterwards (the callbacks it got, who finished, the credit), and the caller's other recent calls.

Everything is read through the API's own queries (``customer_call``, ``caller_history``) and the
core's live picture; the one access rule (:func:`acd.api.access.may_read_call`) decides first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from acd.api.access import may_read_call
from acd.api.auth import Principal
from acd.api.outcome_write import STORED_WAIT_SECONDS
from acd.core.effects import CallStarted
from acd.reads.call_lists import caller_history, chain_view
from acd.reads.calls import customer_call
from acd.reads.rep_calls import callbacks_of, cut_off_legs
from acd.reads.rep_calls import credited_calls as rep_credited_calls
from acd.store.outcomes import locate_call, resolve_linkedid
from acd.web.app import Pages
from acd.web.words import ending, routing_reason

__all__ = ["CallView", "Earlier", "Forbidden", "Later", "NotFound", "call_view"]

HISTORY_SECONDS = 30 * 86400.0


class NotFound(Exception):
    """No call by that id, live or stored."""


class Forbidden(Exception):
    """The call exists, and this sign-in may not read it."""


@dataclass
class Earlier:
    """The call this one follows up: a cut-off call it is a callback of, or a repeat's first call."""

    call_id: str
    link: str  # "callback" | "repeat"
    server: str | None  # the server that had it, when another than this one
    agent: str | None
    agent_name: str | None
    at: float
    ended_label: str
    ended_sentence: str
    disposition: str | None
    resolved: bool | None
    notes: str | None
    points: float | None


@dataclass
class Later:
    """A callback this (cut-off) call got: when, who took it, how it came out, the credit shares."""

    call_id: str
    at: float
    agent: str | None
    agent_name: str | None
    answered: bool
    disposition: str | None
    credits: list[dict[str, Any]]


@dataclass
class CallView:
    call_id: str  # the customer call (Linkedid)
    live: bool
    phase: str  # waiting | ringing | connected | ended
    number: str | None
    account: str | None
    queue: str | None
    joined_at: float | None
    wait_seconds: float | None
    agent: str | None
    agent_name: str | None
    stored: bool  # its record is in the database (an outcome can be posted)
    ended: tuple[str, str] | None = None
    earlier: Earlier | None = None
    why: str | None = None
    outcome: dict[str, Any] | None = None
    credits: list[dict[str, Any]] = field(default_factory=list)
    later: list[Later] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    open_order: dict[str, Any] | None = None  # ref, left, opened_at, sale_id: work left on the chain
    sales: list[dict[str, Any]] = field(default_factory=list)  # the chain's sales and shares


def _from_key(key: str | None) -> tuple[str | None, str | None]:
    """(number, account) from a caller key (``tel:<digits>`` or ``acct:<account>``)."""
    if key is None:
        return None, None
    kind, _, value = key.partition(":")
    if kind == "acct":
        return None, value
    if kind == "tel":
        return value, None
    return key, None


async def _linkedid(conn: AsyncConnection, server_id: str, ident: str) -> str | None:
    return await resolve_linkedid(conn, server_id, ident)


def _answered_entry(call: dict[str, Any]) -> dict[str, Any] | None:
    answered = [e for e in call["entries"] if e["answered_at"] is not None]
    return answered[-1] if answered else None


def _ending_of(call: dict[str, Any]) -> tuple[str, str]:
    entry = _answered_entry(call)
    if entry is None:
        return ending(
            answered=False,
            cut_off=False,
            reasons=(),
            ended_by=None,
            agent_released_short=False,
            talk_seconds=0.0,
        )
    cut = [e for e in call["entries"] if e["cut_off"]]
    return ending(
        answered=True,
        cut_off=bool(cut),
        reasons=[r for e in cut for r in e["cut_off_reasons"]],
        ended_by=entry["ended_by"],
        agent_released_short=bool(entry.get("agent_released_short")),
        talk_seconds=float(entry["talk_seconds"] or 0.0),
    )


async def _earlier(
    conn: AsyncConnection, server_id: str, entry_id: str, link: str
) -> tuple[Earlier | None, str | None]:
    found = await locate_call(conn, server_id, entry_id)
    if found is None:
        return None, None
    server, linkedid = found
    call = await customer_call(conn, server, linkedid, reader_agent=None, supervisor=True)
    if call is None:
        return None, None
    label, sentence = _ending_of(call)
    record = call["outcome_record"] or {}
    return (
        Earlier(
            call_id=linkedid,
            link=link,
            server=server if server != server_id else None,
            agent=call["agent"],
            agent_name=call["agent_name"],
            at=call["ended_at"],
            ended_label=label,
            ended_sentence=sentence,
            disposition=record.get("disposition"),
            resolved=record.get("resolved"),
            notes=record.get("notes"),
            points=record.get("points"),
        ),
        linkedid,
    )


async def _later(conn: AsyncConnection, server_id: str, entry_ids: list[str]) -> list[Later]:
    return [
        Later(
            call_id=call["call_id"],
            at=call["joined_at"],
            agent=call["agent"],
            agent_name=call["agent_name"],
            answered=call["outcome"] == "answered",
            disposition=(call["outcome_record"] or {}).get("disposition"),
            credits=call["credits"],
        )
        for call in await callbacks_of(conn, server_id, entry_ids)
    ]


def _order_opener(chain_calls: list[dict[str, Any]], ref: str | None) -> str | None:
    """The rep whose outcome left the order ``ref`` open (the earliest such call of the chain)."""
    for c in chain_calls:
        order = (c["outcome_record"] or {}).get("order") or {}
        if order.get("ref") == ref and order.get("status") == "open":
            name = c["agent_name"] or c["agent"]
            return str(name) if name else None
    return None


def _phase(pages: Pages, entry: CallStarted | None) -> str:
    """Where the live call is: waiting in the queue, ringing a rep, connected; else ended."""
    if entry is None:
        return "ended"
    snapshot = pages.feed.snapshot()
    for agent in snapshot.agents if snapshot is not None else ():
        if agent.current_call == entry.id:
            return "connected" if agent.state == "in_call" else "ringing"
    return "waiting"


async def call_view(pages: Pages, ident: str, who: Principal) -> CallView:
    """The call ``ident`` names (a Linkedid, an entry id or a caller channel's Uniqueid), as
    ``who`` may see it; raises :class:`NotFound` or :class:`Forbidden`."""
    server_id = pages.settings.server_id
    live = pages.live_calls.find(ident) if pages.live_calls is not None else []
    if not live and pages.live_calls is not None and pages.live_calls.ended(ident) and pages.writer.stored:
        # ended a moment ago: show its finished record, not the half stored while it rang
        await pages.writer.stored(STORED_WAIT_SECONDS)
    mine = pages.feed.agent(who.agent) if who.agent else None
    async with pages.engine.connect() as conn:
        linkedid = await _linkedid(conn, server_id, ident)
        if linkedid is None and live:
            linkedid = live[0].linkedid
        if linkedid is None and pages.live_calls is not None:
            # ended a moment ago, its record not stored yet
            linkedid = next((c.linkedid for c in pages.live_calls.ended(ident)), None)
        if linkedid is None:
            raise NotFound(ident)
        if not live and pages.live_calls is not None:
            live = pages.live_calls.find(linkedid)
        just_ended = pages.live_calls.ended(linkedid) if pages.live_calls is not None and not live else []
        on_me = [c.id for c in live if mine is not None and mine.current_call == c.id]
        finished = pages.feed.last_finished(who.agent) if who.agent else None
        on_me += [c.id for c in just_ended if finished is not None and finished[0] == c.id]
        if not await may_read_call(conn, server_id, who, linkedid, live_entries=on_me):
            raise Forbidden(ident)
        call = await customer_call(conn, server_id, linkedid, reader_agent=who.agent, supervisor=True)
        entry = live[-1] if live else None
        # a call that ended a moment ago, before its record is stored, is shown from what acd saw
        seen = entry or (just_ended[-1] if just_ended and call is None else None)
        key = seen.caller_key if seen is not None else (call["caller"]["key"] if call else None)
        number, account = _from_key(key)
        if call is not None and call["caller"]["number"]:
            number = call["caller"]["number"]
        view = CallView(
            call_id=linkedid,
            live=entry is not None,
            phase=_phase(pages, entry),
            number=number,
            account=account,
            queue=(call["queue"] if call else None) or (seen.queue if seen else None),
            joined_at=call["joined_at"] if call else (seen.at if seen else None),
            wait_seconds=None,
            agent=call["agent"] if call else (who.agent if on_me else None),
            agent_name=call["agent_name"] if call else (mine.name if on_me and mine else None),
            stored=call is not None and entry is None,
        )
        if call is not None:
            answered = _answered_entry(call)
            if answered is not None and answered["answered_at"] is not None:
                view.wait_seconds = answered["answered_at"] - call["joined_at"]
            if entry is None:
                view.ended = _ending_of(call)
            view.outcome = call["outcome_record"]
            view.credits = call["credits"]
        elif entry is not None:
            view.wait_seconds = pages.clock() - entry.at if view.phase in ("waiting", "ringing") else None
        callback_of = (seen.callback_of if seen else None) or (call["callback_of"] if call else None)
        repeat_of = seen.repeat_of if seen else None
        if repeat_of is None and call is not None:
            repeat_of = next((e["repeat_of"] for e in call["entries"] if e["repeat_of"]), None)
        earlier_id = None
        if callback_of:
            view.earlier, earlier_id = await _earlier(conn, server_id, callback_of, "callback")
        elif repeat_of:
            view.earlier, earlier_id = await _earlier(conn, server_id, repeat_of, "repeat")
        decision = pages.live_calls.decision(seen.uniqueid) if seen and pages.live_calls else None
        reason = (
            decision.reason if decision else (call["routing"]["reason"] if call and call["routing"] else None)
        )
        previous = (decision.agent_name if decision else None) or (
            view.earlier.agent_name if view.earlier else None
        )
        you = who.agent is not None and view.earlier is not None and view.earlier.agent == who.agent
        detail = (
            decision.detail if decision else (call["routing"]["detail"] if call and call["routing"] else "")
        )
        earlier_rep = (decision.agent if decision else None) or (view.earlier.agent if view.earlier else None)
        earlier_live = pages.feed.agent(earlier_rep) if earlier_rep else None
        view.why = routing_reason(
            reason,
            previous,
            you=you,
            detail=detail or "",
            pause_now=earlier_live.paused_reason if earlier_live is not None else None,
        )
        if call is not None:
            view.later = await _later(conn, server_id, [e["id"] for e in call["entries"] if e["cut_off"]])
        # The chain's open order and sales: this call's chain once it is recorded, else (a callback
        # still ringing) the chain of the call it follows.
        for member in (linkedid, earlier_id):
            chain = (
                await chain_view(conn, server_id, member, show_notes=True, now=pages.clock())
                if member
                else None
            )
            if chain is not None:
                view.open_order = chain["open_order"]
                view.sales = chain["sales"]
                if view.open_order is not None:
                    view.open_order["by"] = _order_opener(chain["calls"], view.open_order["ref"])
                break
        if key is not None:
            since = pages.clock() - HISTORY_SECONDS
            history = await caller_history(
                conn, server_id, key, exclude_linkedid=linkedid, since=since, show_notes=False, limit=6
            )
            view.history = [h for h in history if h["call_id"] != earlier_id][:5]
    return view


@dataclass
class CutOffCustomer:
    """One of a rep's cut-off calls and what became of the customer."""

    call_id: str
    at: float
    number: str | None
    ended_sentence: str
    later: list[Later]
    my_share: float | None  # this rep's credit on the callbacks, when any was credited


async def cut_off_customers(pages: Pages, agent: str, since: float) -> list[CutOffCustomer]:
    """The rep's cut-off calls since ``since`` (the legs their ``cut_offs`` counts, one line per
    customer call), newest first, each with its callbacks."""
    server_id = pages.settings.server_id
    found: list[CutOffCustomer] = []
    async with pages.engine.connect() as conn:
        legs = await cut_off_legs(conn, server_id, agent, since, pages.clock())
        seen: list[str] = []
        for leg in legs:
            if leg["call_id"] not in seen:
                seen.append(leg["call_id"])
        for linkedid in seen:
            call = await customer_call(conn, server_id, linkedid, reader_agent=agent, supervisor=True)
            if call is None:
                continue
            later = await _later(
                conn, server_id, [leg["entry"] for leg in legs if leg["call_id"] == linkedid]
            )
            shares = [c["points"] for item in later for c in item.credits if c["agent"] == agent]
            found.append(
                CutOffCustomer(
                    call_id=linkedid,
                    at=call["joined_at"],
                    number=call["caller"]["number"],
                    ended_sentence=_ending_of(call)[1],
                    later=later,
                    my_share=sum(shares) if shares else None,
                )
            )
    return found


async def credited_calls(pages: Pages, agent: str, since: float) -> list[dict[str, Any]]:
    """The calls behind a rep's credit since ``since`` (their shares of the sales dated then, the
    rows their ``credit_points`` adds up): call, points and the rep's part in the sale."""
    async with pages.engine.connect() as conn:
        return await rep_credited_calls(conn, pages.settings.server_id, agent, since, pages.clock())
