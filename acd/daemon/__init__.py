"""``acd run``: the long-running daemon, AMI in, the core in the middle, storage, metrics and HTTP
around it. :mod:`acd.daemon.wiring` wires the edges to the core and runs them; the other modules
of this package are its parts, one job each (see the package's modules)."""

from __future__ import annotations

from acd.daemon.listeners import CannotListen
from acd.daemon.run import run_daemon
from acd.daemon.wiring import CORE_EVENTS, Daemon

__all__ = ["CORE_EVENTS", "CannotListen", "Daemon", "run_daemon"]
