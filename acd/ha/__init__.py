"""Several nodes for one server: PostgreSQL decides which one leads; the others stand by.

- :mod:`acd.ha.lease`: the node's belief about its leadership and the fence (pure);
- :mod:`acd.ha.postgres`: the dedicated leadership session and its SQL;
- :mod:`acd.ha.node`: the heartbeat task (:class:`Leadership`), or :class:`SoleNode` on SQLite.

README, "Several servers and HA", says what an operator sees.
"""

from __future__ import annotations

from acd.ha.lease import Lease, LeaseTiming, Role
from acd.ha.node import Change, Leadership, SoleNode
from acd.ha.postgres import LeaseConnection, LockNotPermitted, Takeover, node_info

__all__ = [
    "Change",
    "Leadership",
    "Lease",
    "LeaseConnection",
    "LeaseTiming",
    "LockNotPermitted",
    "Role",
    "SoleNode",
    "Takeover",
    "node_info",
]
