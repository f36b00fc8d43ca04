"""The database schema as SQLAlchemy 2.x typed models, one MetaData split by what the rows are.

* ``records``: the call records the writer upserts from what Asterisk did (calls, offers, routing
  decisions, agent sessions, callback links, customer calls).
* ``outcomes``: what people write about calls and the sales credit it settles.
* ``rollups``: the summary's rebuildable sums and the marks that say whether they are current.
* ``operation``: the daemon's own bookkeeping (gaps in what it saw, HA leases and nodes).

Times are epoch seconds (double precision) in the core's clock: the same arithmetic works on
SQLite and PostgreSQL, and the core already speaks seconds. Importing this package (which any of
its modules does first) declares every table, so ``metadata`` is the whole schema Alembic's
migrations must match.
"""

from __future__ import annotations

from acd.store.schema import operation, outcomes, records, rollups
from acd.store.schema.base import Base

__all__ = ["metadata"]

metadata = Base.metadata
# Named so the imports above, which declare the tables on ``metadata``, are not unused.
_TABLE_MODULES = (operation, outcomes, records, rollups)
