"""A simulated call center for the end-to-end tests, with the settings they share.

On a free port, as fast as the code runs, its clock at a fixed instant (1.8e9: runs repeat), the
traffic held until the first client logs in (nothing happens before acd watches), a mix of
cut-offs, callbacks and repeat callers, and the test session's manager user
(:func:`tests.support.credentials.login`). A test overrides what its story needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acd.sim import SimConfig
from tests.support.credentials import login

__all__ = ["fast_center", "one_of_several"]


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


def one_of_several(tmp: Path, name: str, extensions: str, queues: str) -> SimConfig:
    """One server of a center with several (its ``systemname`` keeps its call ids apart), in
    manual time from the same instant as the others, no traffic: the test places the calls."""
    (tmp / "extensions.conf").write_text(extensions)
    (tmp / "queues.conf").write_text(queues)
    return SimConfig(
        port=0, speed=0, traffic=False, queues_conf=tmp / "queues.conf", dialplan=tmp / "extensions.conf",
        truth=tmp / "truth.jsonl", start_epoch=1.8e9, seed=16, systemname=name, **login(),
    )  # fmt: skip
