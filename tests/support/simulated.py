"""A simulated call center for the end-to-end tests, with the settings they share.

On a free port, as fast as the code runs, its clock at a fixed instant (1.8e9: runs repeat), the
traffic held until the first client logs in (nothing happens before acd watches), a mix of
cut-offs, callbacks and repeat callers, and the test session's manager user
(:func:`tests.support.credentials.login`). A test overrides what its story needs.
"""

from __future__ import annotations

from typing import Any

from acd.sim import SimConfig
from tests.support.credentials import login

__all__ = ["fast_center"]


def fast_center(**fields: Any) -> SimConfig:
    base: dict[str, Any] = {
        "port": 0,
        "speed": float("inf"),
        "start_epoch": 1.8e9,
        "hold_until_login": True,
        "cutoff_share": 0.15,
        "callback_share": 0.8,
        "repeat_share": 0.2,
        **login(),
    }
    return SimConfig(**{**base, **fields})
