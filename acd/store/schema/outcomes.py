"""What people write about calls, and the sales credit it settles.

A rep's disposition, notes and order, a supervisor's credit adjustment or review: unlike the call
records (records.py) these come from people through the API or an AMI UserEvent, are kept as a
history (who wrote what, when) rather than upserted facts, and are what ``acd purge`` erases by
its own rules.

* ``outcomes`` is a history; the current outcome of a call is its latest row. Outcomes from AMI
  are keyed by their timestamp and author so a replay does not double them.
* ``sales``/``sale_credits`` are the settled credit of each sale (acd/core/credit.py), rewritten
  whenever an outcome or an adjustment changes a chain; ``credit_adjustments`` is the audit trail.
  (``credits`` is the first schema's credit table, no longer written.)
"""

from __future__ import annotations

from sqlalchemy import Boolean, Double, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from acd.store.schema.base import Base, table_of

__all__ = [
    "CallReview",
    "Credit",
    "CreditAdjustment",
    "Outcome",
    "Sale",
    "SaleCredit",
    "adjustments",
    "call_reviews",
    "credits",
    "outcomes",
    "sale_credits",
    "sales",
]


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


# Each table as SQLAlchemy Core sees it, under the one name every query uses.
outcomes = table_of(Outcome)
credits = table_of(Credit)
sales = table_of(Sale)
sale_credits = table_of(SaleCredit)
adjustments = table_of(CreditAdjustment)
call_reviews = table_of(CallReview)
