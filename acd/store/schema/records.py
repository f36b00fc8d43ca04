"""The call records: what Asterisk did with each call, as the writer upserts it from the core's effects.

These are the facts every read, report and page starts from, and the only tables a replay or a
queue_log import writes. They sit apart from what people write about calls (outcomes.py), the
summary's caches (rollups.py) and the daemon's own bookkeeping (operation.py) because their keys
are the point: each is keyed by what Asterisk says, so a replay, a resync after a reconnect or a
queue_log import yields the same key and the upsert never doubles a row.

* ``calls`` has one row per *queue entry*, keyed by ``(server_id, uniqueid, entry)``: the caller
  channel's Uniqueid plus the number of its queue entry. Entries of one customer call share a
  ``linkedid``; the API addresses a customer call by that Linkedid.
* Personal affinity queues (``acd-agent-*``) keep their real name in ``queue`` and set ``personal``;
  reporting folds them into the customer call's shared queue.
* ``customer_calls`` holds one row per customer call (server id + Linkedid) as the core's
  customer-call stage built it (acd/core/customer.py); each entry row carries how it is reported
  (``leg_*``). Reports, KPIs and the API read those columns as they are. Rows written before they
  existed are filled by ``acd db backfill``; until then the ``leg_*`` columns are NULL.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Double, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from acd.store.schema.base import Base, table_of

__all__ = [
    "AgentSession",
    "Call",
    "CallbackLink",
    "CustomerCallRow",
    "Offer",
    "RoutingDecision",
    "callback_links",
    "calls",
    "customer_calls",
    "decisions",
    "offers",
    "sessions",
]


class Call(Base):
    """One queue entry of a customer call (one ``CallRecord``)."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("server_id", "uniqueid", "entry"),
        Index(None, "server_id", "call_id"),
        Index(None, "server_id", "linkedid"),
        Index(None, "joined_at"),
        Index(None, "agent", "joined_at"),
        Index(None, "caller_key", "joined_at"),
        Index(None, "call_id"),  # a callback names a cut-off another server may have recorded
        # Rows not yet filled by the customer-call stage (acd db backfill's work list): empty once done.
        Index(
            "ix_calls_unfilled",
            "server_id",
            "joined_at",
            sqlite_where=text("leg_counted IS NULL"),
            postgresql_where=text("leg_counted IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    uniqueid: Mapped[str] = mapped_column(String(64))
    entry: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str] = mapped_column(String(80))
    linkedid: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(128))
    personal: Mapped[bool] = mapped_column(Boolean, default=False)
    caller_num: Mapped[str | None] = mapped_column(String(80))
    caller_name: Mapped[str | None] = mapped_column(String(160))
    caller_key: Mapped[str | None] = mapped_column(String(128))
    account: Mapped[str | None] = mapped_column(String(128))
    joined_at: Mapped[float] = mapped_column(Double)
    ended_at: Mapped[float] = mapped_column(Double)
    answered_at: Mapped[float | None] = mapped_column(Double)
    outcome: Mapped[str] = mapped_column(String(16))
    exit_reason: Mapped[str | None] = mapped_column(String(32))
    agent: Mapped[str | None] = mapped_column(String(160))
    agent_name: Mapped[str | None] = mapped_column(String(160))
    wait_seconds: Mapped[float] = mapped_column(Double)
    talk_seconds: Mapped[float] = mapped_column(Double)
    ended_by: Mapped[str | None] = mapped_column(String(16))
    cause: Mapped[int | None] = mapped_column(Integer)
    caller_cause: Mapped[int | None] = mapped_column(Integer)
    agent_cause: Mapped[int | None] = mapped_column(Integer)
    cut_off: Mapped[bool] = mapped_column(Boolean, default=False)
    cut_off_reasons: Mapped[str | None] = mapped_column(Text)  # JSON list
    agent_released_short: Mapped[bool] = mapped_column(Boolean, default=False)
    transfer_target: Mapped[str | None] = mapped_column(String(160))
    callback_of: Mapped[str | None] = mapped_column(String(80))
    repeat_of: Mapped[str | None] = mapped_column(String(80))
    routing: Mapped[str | None] = mapped_column(String(40))  # affinity decision reason, when routed
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int | None] = mapped_column(Integer)
    variables: Mapped[str | None] = mapped_column(Text)  # JSON object
    # Frozen by ``acd purge`` before the caller key is erased, so repeat-contact counts survive.
    repeat_24h: Mapped[bool | None] = mapped_column(Boolean)
    repeat_7d: Mapped[bool | None] = mapped_column(Boolean)
    repeat_30d: Mapped[bool | None] = mapped_column(Boolean)
    repeat_frozen: Mapped[bool | None] = mapped_column(Boolean)  # the three flags above were set
    purged_at: Mapped[float | None] = mapped_column(Double)
    # Where the record comes from (NULL: before 0003, i.e. AMI): ami, queue_log or merged; the
    # fields its source could not tell, and those deduced (JSON lists of names).
    source: Mapped[str | None] = mapped_column(String(16))
    unknown_fields: Mapped[str | None] = mapped_column(Text)
    inferred_fields: Mapped[str | None] = mapped_column(Text)
    # How the entry is reported (LegFacts); NULL until the customer-call stage (or backfill) said.
    leg_queue: Mapped[str | None] = mapped_column(String(128))
    leg_counted: Mapped[bool | None] = mapped_column(Boolean)
    leg_wait: Mapped[float | None] = mapped_column(Double)
    leg_closing: Mapped[bool | None] = mapped_column(Boolean)


class Offer(Base):
    """One ring of one agent for one queue entry (``AgentOffer``)."""

    __tablename__ = "offers"
    __table_args__ = (UniqueConstraint("server_id", "uniqueid", "entry", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    uniqueid: Mapped[str] = mapped_column(String(64))
    entry: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str] = mapped_column(String(80))
    agent: Mapped[str] = mapped_column(String(160))
    agent_name: Mapped[str] = mapped_column(String(160))
    rang_at: Mapped[float] = mapped_column(Double)
    result: Mapped[str] = mapped_column(String(16))
    ring_seconds: Mapped[float] = mapped_column(Double)


class CallbackLink(Base):
    """This call (entry) is a callback of that earlier cut-off call (entry)."""

    __tablename__ = "callback_links"
    __table_args__ = (UniqueConstraint("server_id", "call_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(80))
    linkedid: Mapped[str] = mapped_column(String(64))
    original_call_id: Mapped[str] = mapped_column(String(80))
    linked_at: Mapped[float] = mapped_column(Double)


class RoutingDecision(Base):
    """The affinity decision for one caller channel (``AffinityDecided``): the final reason, the
    shared queue the caller asked for, and the preferred agent. Kept apart from ``calls`` because it
    may arrive before or after the call rows; the writer copies ``reason`` into ``calls.routing``
    whichever comes first."""

    __tablename__ = "routing_decisions"
    __table_args__ = (UniqueConstraint("server_id", "uniqueid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    uniqueid: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(128))  # the shared queue the caller asked for
    action: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(40))
    shadow: Mapped[bool] = mapped_column(Boolean)
    agent: Mapped[str | None] = mapped_column(String(160))
    agent_name: Mapped[str | None] = mapped_column(String(160))
    callback_of: Mapped[str | None] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(String(160))
    decided_at: Mapped[float] = mapped_column(Double)
    at: Mapped[float] = mapped_column(Double)


class AgentSession(Base):
    """Login, logout, pause (with reason) and unpause of an agent in a queue."""

    __tablename__ = "agent_sessions"
    __table_args__ = (
        UniqueConstraint("server_id", "agent", "queue", "kind", "at"),
        Index(None, "agent", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(160))
    name: Mapped[str] = mapped_column(String(160))
    queue: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(160))
    at: Mapped[float] = mapped_column(Double)


class CustomerCallRow(Base):
    """One customer call (``CustomerCall``), upserted on every change, plus what later calls and
    outcomes add: the next contact from the same caller key and the repeat exemption (set by the
    store when that call is written) and a summary of the latest outcome."""

    __tablename__ = "customer_calls"
    __table_args__ = (
        UniqueConstraint("server_id", "linkedid"),
        Index(None, "server_id", "caller_key", "ended_at"),
        Index(None, "server_id", "caller_key", "joined_at"),
        Index(None, "server_id", "joined_at"),
        Index(None, "server_id", "ended_at"),
        Index(None, "server_id", "chain_id"),
        Index(None, "server_id", "callback_of"),
        Index(None, "server_id", "agent", "ended_at"),
        # A caller's contacts and callbacks across every server (repeats, FCR, exemptions).
        Index(None, "caller_key", "joined_at"),
        Index(None, "callback_of"),
        # Whether a continuation on another server names a call (calls that cross servers).
        Index(None, "origin_server", "origin_linkedid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(128))
    caller_num: Mapped[str | None] = mapped_column(String(80))
    caller_name: Mapped[str | None] = mapped_column(String(160))
    caller_key: Mapped[str | None] = mapped_column(String(128))
    keyed: Mapped[bool] = mapped_column(Boolean)  # had a caller key (kept when a purge erases it)
    account: Mapped[str | None] = mapped_column(String(128))
    joined_at: Mapped[float] = mapped_column(Double)
    answered_at: Mapped[float | None] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double)
    outcome: Mapped[str | None] = mapped_column(String(16))
    live: Mapped[bool] = mapped_column(Boolean)
    final: Mapped[bool] = mapped_column(Boolean)
    agent: Mapped[str | None] = mapped_column(String(160))
    agent_name: Mapped[str | None] = mapped_column(String(160))
    wait_seconds: Mapped[float | None] = mapped_column(Double)
    talk_seconds: Mapped[float] = mapped_column(Double)
    ended_by: Mapped[str | None] = mapped_column(String(16))
    cause: Mapped[int | None] = mapped_column(Integer)
    cut_off: Mapped[bool] = mapped_column(Boolean)
    cut_off_reasons: Mapped[str | None] = mapped_column(Text)  # JSON list
    agent_released_short: Mapped[bool] = mapped_column(Boolean)
    partial: Mapped[bool] = mapped_column(Boolean)
    legs: Mapped[int] = mapped_column(Integer)
    callback_of: Mapped[str | None] = mapped_column(String(64))
    repeat_of: Mapped[str | None] = mapped_column(String(64))
    callback_result: Mapped[str | None] = mapped_column(String(24))
    chain_id: Mapped[str] = mapped_column(String(64))
    chain_seq: Mapped[int] = mapped_column(Integer)
    routing: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[float] = mapped_column(Double)
    next_contact_at: Mapped[float | None] = mapped_column(Double)
    next_contact_call: Mapped[str | None] = mapped_column(String(64))
    repeat_exempt: Mapped[bool | None] = mapped_column(Boolean)
    disposition: Mapped[str | None] = mapped_column(String(64))  # of the latest outcome
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    notes_state: Mapped[str | None] = mapped_column(String(8))  # empty | trivial | written; NULL: none
    outcome_at: Mapped[float | None] = mapped_column(Double)
    purged_at: Mapped[float | None] = mapped_column(Double)
    # The call on another server this one continues (ACD_ORIGIN over a trunk): the pair is one
    # customer call, counted as this row (acd/core/origin.py).
    origin_server: Mapped[str | None] = mapped_column(String(64))
    origin_linkedid: Mapped[str | None] = mapped_column(String(64))


# Each table as SQLAlchemy Core sees it, under the one name every query uses.
calls = table_of(Call)
offers = table_of(Offer)
callback_links = table_of(CallbackLink)
decisions = table_of(RoutingDecision)
sessions = table_of(AgentSession)
customer_calls = table_of(CustomerCallRow)
