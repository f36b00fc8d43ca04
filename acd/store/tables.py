"""The database schema as SQLAlchemy 2.x typed models, and each table under the one name queries use.

Why the keys look the way they do:

* ``calls`` has one row per *queue entry*, keyed by ``(server_id, uniqueid, entry)``: the caller
  channel's Uniqueid plus the number of its queue entry, so replaying a capture or resyncing after a
  reconnect yields the same key and the writer's upsert never doubles a row. Entries of one customer
  call share a ``linkedid``; the API addresses a customer call by that Linkedid.
* Personal affinity queues (``acd-agent-*``) keep their real name in ``queue`` and set ``personal``;
  reporting folds them into the customer call's shared queue.
* Times are epoch seconds (double precision) in the core's clock: the same arithmetic works on
  SQLite and PostgreSQL, and the core already speaks seconds.
* ``outcomes`` is a history (who wrote what, when); the current outcome of a call is its latest row.
  Outcomes from AMI are keyed by their timestamp and author so a replay does not double them.
* ``customer_calls`` holds one row per customer call (server id + Linkedid) as the core's
  customer-call stage built it (acd/core/customer.py); each entry row carries how it is reported
  (``leg_*``). Reports, KPIs and the API read those columns as they are. Rows written before they
  existed are filled by ``acd db backfill``; until then the ``leg_*`` columns are NULL.
* ``sales``/``sale_credits`` are the settled credit of each sale (acd/core/credit.py), rewritten
  whenever an outcome or an adjustment changes a chain; ``credit_adjustments`` is the audit trail.
  (``credits`` is the first schema's credit table, no longer written.)
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from acd.core.definitions import PERSONAL_QUEUE_PREFIX, is_personal_queue

__all__ = [
    "PERSONAL_QUEUE_PREFIX",
    "AgentSession",
    "Base",
    "Call",
    "CallbackLink",
    "Credit",
    "CreditAdjustment",
    "CustomerCallRow",
    "Gap",
    "Node",
    "Offer",
    "Outcome",
    "RoutingDecision",
    "Sale",
    "SaleCredit",
    "ServerLease",
    "is_personal_queue",
    "table_of",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


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


class Outcome(Base):
    """A disposition written for a customer call (by API or AMI UserEvent); the latest row wins."""

    __tablename__ = "outcomes"
    __table_args__ = (
        UniqueConstraint("server_id", "linkedid", "written_by", "written_at"),
        Index(None, "server_id", "linkedid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))  # the customer call
    call_id: Mapped[str | None] = mapped_column(String(80))  # entry the outcome named, when known
    agent: Mapped[str | None] = mapped_column(String(160))  # agent the outcome is for
    disposition: Mapped[str | None] = mapped_column(String(64))
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    notes: Mapped[str | None] = mapped_column(Text)
    notes_purged: Mapped[bool | None] = mapped_column(Boolean)  # notes existed, erased by acd purge
    points: Mapped[float | None] = mapped_column(Double)
    written_by: Mapped[str] = mapped_column(String(160))
    written_at: Mapped[float] = mapped_column(Double)
    source: Mapped[str] = mapped_column(String(16))  # "api" | "ami"
    order_ref: Mapped[str | None] = mapped_column(String(128))
    order_status: Mapped[str | None] = mapped_column(String(8))  # "open" | "closed"
    order_left: Mapped[str | None] = mapped_column(Text)  # what is left to do on an open order


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


class Credit(Base):
    """Points attributed to one agent for one customer call's outcome, and why."""

    __tablename__ = "credits"
    __table_args__ = (
        UniqueConstraint("server_id", "linkedid", "agent"),
        Index(None, "agent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    outcome_id: Mapped[int] = mapped_column(ForeignKey("outcomes.id", ondelete="CASCADE"))
    agent: Mapped[str] = mapped_column(String(160))
    agent_name: Mapped[str | None] = mapped_column(String(160))
    points: Mapped[float] = mapped_column(Double)
    reason: Mapped[str] = mapped_column(String(32))
    policy: Mapped[str] = mapped_column(String(16))
    original_call_id: Mapped[str | None] = mapped_column(String(80))
    written_at: Mapped[float] = mapped_column(Double)


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


class Gap(Base):
    """A stretch of time acd could not see Asterisk (reports mark numbers over it as incomplete)."""

    __tablename__ = "gaps"
    __table_args__ = (UniqueConstraint("server_id", "ended_at", "reason"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[float | None] = mapped_column(Double)
    ended_at: Mapped[float] = mapped_column(Double)
    reason: Mapped[str] = mapped_column(String(64))
    calls_reconciled: Mapped[int] = mapped_column(Integer)
    calls_recovered: Mapped[int | None] = mapped_column(Integer)  # recorded from queue_log
    calls_merged: Mapped[int | None] = mapped_column(Integer)  # completed with queue_log's facts
    queue_log: Mapped[str | None] = mapped_column(String(16))  # read | unreadable | NULL (off)


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


class Sale(Base):
    """One sale of a callback chain as acd/core/credit.py settled it."""

    __tablename__ = "sales"
    __table_args__ = (
        UniqueConstraint("server_id", "sale_id"),
        Index(None, "server_id", "chain_id"),
        Index(None, "server_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    sale_id: Mapped[str] = mapped_column(String(80))
    chain_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    points: Mapped[float | None] = mapped_column(Double)
    disputed: Mapped[bool] = mapped_column(Boolean)
    settled: Mapped[bool] = mapped_column(Boolean)
    order_ref: Mapped[str | None] = mapped_column(String(128))
    order_open: Mapped[bool] = mapped_column(Boolean)
    order_left: Mapped[str | None] = mapped_column(Text)
    order_opened_at: Mapped[float | None] = mapped_column(Double)
    original_call: Mapped[str] = mapped_column(String(64))
    closer_call: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    policy: Mapped[str] = mapped_column(String(16))
    adjusted: Mapped[bool] = mapped_column(Boolean)


class SaleCredit(Base):
    """One rep's share of one sale (the sale's date and queue repeated for GROUP BYs)."""

    __tablename__ = "sale_credits"
    __table_args__ = (
        UniqueConstraint("server_id", "sale_id", "agent"),
        Index(None, "server_id", "at"),
        Index(None, "server_id", "agent", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    sale_id: Mapped[str] = mapped_column(String(80))
    chain_id: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(160))
    agent_name: Mapped[str | None] = mapped_column(String(160))
    linkedid: Mapped[str] = mapped_column(String(64))  # the rep's call in the chain
    points: Mapped[float] = mapped_column(Double)
    attribution: Mapped[str] = mapped_column(String(16))
    adjusted: Mapped[bool] = mapped_column(Boolean)
    queue: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[float] = mapped_column(Double)


class CreditAdjustment(Base):
    """A supervisor's change to a sale's shares: who, when, why, before and after (JSON)."""

    __tablename__ = "credit_adjustments"
    __table_args__ = (Index(None, "server_id", "chain_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    sale_id: Mapped[str] = mapped_column(String(80))
    chain_id: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))  # the call the request named
    written_by: Mapped[str] = mapped_column(String(160))
    written_at: Mapped[float] = mapped_column(Double)
    reason: Mapped[str] = mapped_column(Text)
    before: Mapped[str] = mapped_column(Text)  # JSON list of shares
    after: Mapped[str] = mapped_column(Text)


class CallReview(Base):
    """A supervisor marked a flagged call reviewed: who, when, their comment, and the reasons it was
    flagged for then (JSON list; a reason that appears later puts the call back on the list)."""

    __tablename__ = "call_reviews"
    __table_args__ = (Index(None, "server_id", "linkedid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    reviewed_by: Mapped[str] = mapped_column(String(160))
    reviewed_at: Mapped[float] = mapped_column(Double)
    comment: Mapped[str] = mapped_column(Text)
    reasons: Mapped[str] = mapped_column(Text)


MEASURES = 16  # value columns of a summary rollup (the widest part, the legs, has 13)


class SummaryRollup(Base):
    """The sums of one part of the summary (acd/reads/rollups.py) over one closed bucket of time, per
    queue (hour buckets) or per agent (day buckets): what a summary reads instead of the rows for
    the buckets whose mark says it is current. ``k1``-``k3`` are the part's breakdown values,
    ``m1``... its measures, in the order the part defines them."""

    __tablename__ = "summary_rollups"
    __table_args__ = (Index(None, "server_id", "level", "part", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))  # queue | agent
    part: Mapped[str] = mapped_column(String(16))
    start: Mapped[float] = mapped_column(Double)
    key: Mapped[str | None] = mapped_column(String(160))
    name: Mapped[str | None] = mapped_column(String(160))
    k1: Mapped[str | None] = mapped_column(String(64))
    k2: Mapped[str | None] = mapped_column(String(64))
    k3: Mapped[str | None] = mapped_column(String(64))
    m1: Mapped[float | None] = mapped_column(Double)
    m2: Mapped[float | None] = mapped_column(Double)
    m3: Mapped[float | None] = mapped_column(Double)
    m4: Mapped[float | None] = mapped_column(Double)
    m5: Mapped[float | None] = mapped_column(Double)
    m6: Mapped[float | None] = mapped_column(Double)
    m7: Mapped[float | None] = mapped_column(Double)
    m8: Mapped[float | None] = mapped_column(Double)
    m9: Mapped[float | None] = mapped_column(Double)
    m10: Mapped[float | None] = mapped_column(Double)
    m11: Mapped[float | None] = mapped_column(Double)
    m12: Mapped[float | None] = mapped_column(Double)
    m13: Mapped[float | None] = mapped_column(Double)
    m14: Mapped[float | None] = mapped_column(Double)
    m15: Mapped[float | None] = mapped_column(Double)
    m16: Mapped[float | None] = mapped_column(Double)


class SummaryMark(Base):
    """Whether a bucket's rollups are current. Every write that changes a row the summary reads
    bumps ``seq`` of the buckets holding the row's times (acd/store/marks.py); the rollups were
    built from the rows as they were at ``built``: current while ``built == seq`` and ``rules`` (the
    queue settings the sums depend on) has not changed."""

    __tablename__ = "summary_marks"
    __table_args__ = (UniqueConstraint("server_id", "level", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    start: Mapped[float] = mapped_column(Double)
    seq: Mapped[int] = mapped_column(Integer)
    built: Mapped[int | None] = mapped_column(Integer)
    rules: Mapped[str | None] = mapped_column(String(32))
    built_at: Mapped[float | None] = mapped_column(Double)


class ServerLease(Base):
    """One logical Asterisk server (``ACD_SERVER_ID``) and its leadership: which node leads it, under
    which fencing token, how far the records in the database cover its events. PostgreSQL decides
    the leader with a session advisory lock keyed by ``lock_key`` (acd/ha/postgres.py); this row
    is what the lock's holder writes, what the next leader reads, and what ``acd status`` shows.
    Times named ``*_at`` are the database's clock (epoch seconds), so hosts' clocks never matter."""

    __tablename__ = "servers"
    __table_args__ = (UniqueConstraint("lock_key"),)

    server_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lock_key: Mapped[int] = mapped_column(Integer)
    token: Mapped[int] = mapped_column(BigInteger, default=0)  # raised by one at every leadership
    leader: Mapped[str | None] = mapped_column(String(160))  # node; NULL once released cleanly
    leader_since: Mapped[float | None] = mapped_column(Double)
    heartbeat_at: Mapped[float | None] = mapped_column(Double)
    # Event time up to which every record of this server is committed here: a new leader's gap,
    # which Asterisk's queue_log fills, starts there.
    covered_until: Mapped[float | None] = mapped_column(Double)
    takeovers: Mapped[int] = mapped_column(Integer, default=0)  # leaderships taken from a live leader
    last_takeover_at: Mapped[float | None] = mapped_column(Double)
    last_takeover_from: Mapped[str | None] = mapped_column(String(160))


class Node(Base):
    """One acd process serving a server, leader or standby, as its last heartbeat described it."""

    __tablename__ = "nodes"

    server_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(160), primary_key=True)
    instance: Mapped[str] = mapped_column(String(32))  # random per process: two processes, one name
    role: Mapped[str] = mapped_column(String(16))  # leader | standby | stopped
    heartbeat_at: Mapped[float] = mapped_column(Double)  # the database's clock
    started_at: Mapped[float] = mapped_column(Double)
    host: Mapped[str] = mapped_column(String(160))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(32))
    ami_connected: Mapped[bool] = mapped_column(Boolean)
    kpi: Mapped[bool] = mapped_column(Boolean)  # exports the center-wide KPIs (holds the kpi lock)
    history_lag: Mapped[float | None] = mapped_column(Double)  # seconds, other servers' news


def table_of(model: type[Base]) -> Table:
    """The model's Core table, typed as such (mypy sees ``__table__`` as a generic FromClause)."""
    return cast(Table, model.__table__)


# Each table as SQLAlchemy Core sees it, under the one name every query uses.
calls = table_of(Call)
offers = table_of(Offer)
outcomes = table_of(Outcome)
callback_links = table_of(CallbackLink)
credits = table_of(Credit)
decisions = table_of(RoutingDecision)
sessions = table_of(AgentSession)
gaps = table_of(Gap)
customer_calls = table_of(CustomerCallRow)
sales = table_of(Sale)
sale_credits = table_of(SaleCredit)
adjustments = table_of(CreditAdjustment)
call_reviews = table_of(CallReview)
rollups = table_of(SummaryRollup)
marks = table_of(SummaryMark)
servers = table_of(ServerLease)
nodes = table_of(Node)
