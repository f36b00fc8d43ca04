"""What every write on a stored call shares, whichever way it arrives (the API or a page's form):
the refusal with its HTTP status and field, and the one audited transaction on the customer call a
call id names.

Each write (a rep's outcome, a supervisor's credit adjustment or review) checks who may make it,
then runs its own statements inside :meth:`CallWrite.on_call`: the call id is resolved to its
customer call in the same transaction (an unknown call is a 404, nothing written), and the whole
transaction is tried again while another writer holds SQLite's lock, so contention is never
reported as an outage. Each caller renders a :class:`Refused` its own way (JSON or a page).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.api.auth import Principal
from acd.settings import Settings
from acd.store.database import retry_contention
from acd.store.outcomes import resolve_linkedid

__all__ = ["CallWrite", "Refused", "supervisor_only"]

T = TypeVar("T")


class Refused(Exception):
    """The write is not allowed or names no call: ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def supervisor_only(who: Principal, doing: str) -> None:
    """Refuse (403) anyone but a supervisor ``doing`` something ("adjust credit")."""
    if not who.is_supervisor:
        raise Refused(403, f"only a supervisor may {doing}")


@dataclass
class CallWrite:
    """The settings, database and clock a write needs, and its transaction."""

    settings: Settings
    engine: AsyncEngine
    clock: Callable[[], float]

    async def on_call(self, call_id: str, work: Callable[[AsyncConnection, str], Awaitable[T]]) -> T:
        """``work(conn, linkedid)`` in one transaction on the customer call ``call_id`` names."""
        server_id = self.settings.server_id

        async def transaction() -> T:
            async with self.engine.begin() as conn:
                linkedid = await resolve_linkedid(conn, server_id, call_id)
                if linkedid is None:
                    raise Refused(404, "unknown call")
                return await work(conn, linkedid)

        return await retry_contention(transaction)
