"""The daemon's own operation: where it could not see Asterisk, and which node leads which server.

None of these describe a call. ``gaps`` tells reports which stretches their numbers may miss (and
what queue_log recovered); ``servers`` and ``nodes`` are high availability's lease, fencing token,
coverage and heartbeats (acd/ha/), written by the leader and read by ``acd status``. Times named
``*_at`` in ``servers`` and ``nodes`` are the database's clock, so hosts' clocks never matter.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Double, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from acd.store.schema.base import Base, table_of

__all__ = ["Gap", "Node", "ServerLease", "gaps", "nodes", "servers"]


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


# Each table as SQLAlchemy Core sees it, under the one name every query uses.
gaps = table_of(Gap)
servers = table_of(ServerLease)
nodes = table_of(Node)
