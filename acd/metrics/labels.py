"""Label values for metrics: bounded, folded and free of personal data.

Every label value that comes from traffic (queue names, agent names, pause reasons, gap reasons,
anomaly kinds, AMI event names) goes through a cap here, because one misconfigured dialplan that
puts a caller number into a queue name would otherwise create a new time series per call and take
Prometheus down with it. Values beyond a cap are reported as ``other``: the totals stay right, only
the detail is lost, and ``acd_metrics_label_overflow_total`` says that it happened.
"""

from __future__ import annotations

from collections.abc import Iterable

from acd.core.definitions import PERSONAL_QUEUE_PREFIX, is_personal_queue

__all__ = [
    "OTHER",
    "PERSONAL_QUEUE_PREFIX",
    "CauseClass",
    "LabelCap",
    "cause_class",
    "is_personal_queue",
]

OTHER = "other"

CauseClass = str


class LabelCap:
    """Admits at most ``limit`` distinct values of one label; later newcomers map to ``other``.

    Values are admitted first come, first served and stay admitted (a series that disappeared and
    came back would break ``rate()``), so the cap is a ceiling on the series count, not an LRU.
    """

    __slots__ = ("_admitted", "limit", "overflowed")

    def __init__(self, limit: int, preset: Iterable[str] = ()) -> None:
        if limit < 1:
            raise ValueError("a label cap must admit at least one value")
        self.limit = limit
        self._admitted: set[str] = set(preset)
        self.overflowed = 0

    def __call__(self, value: str) -> str:
        admitted = self._admitted
        if value in admitted:
            return value
        if len(admitted) < self.limit:
            admitted.add(value)
            return value
        self.overflowed += 1
        return OTHER

    def __len__(self) -> int:
        return len(self._admitted)


# Q.850 cause classes (ITU-T Q.850 section 2.2.5): the value range says what kind of failure it was.
_CLASS_BY_RANGE: tuple[tuple[int, int, str], ...] = (
    (1, 31, "normal_event"),
    (32, 47, "resource_unavailable"),
    (48, 63, "service_unavailable"),
    (64, 79, "not_implemented"),
    (80, 95, "invalid_message"),
    (96, 111, "protocol_error"),
    (112, 127, "interworking"),
)

CAUSE_CLASSES: tuple[str, ...] = (
    *(name for _, _, name in _CLASS_BY_RANGE),
    "lost",
    "agent_released_short",
    "unknown",
)


def cause_class(cause: int | None, partial: bool, agent_released_short: bool = False) -> CauseClass:
    """The class of the cause that cut a call off, as a small fixed set of label values.

    No cause at all on a partial call means the channel was lost to a gap or restart (``lost``); an
    agent-released short call the operator counts as a cut-off has no abnormal cause of its own.
    """
    if cause is None or cause == 0:
        if partial:
            return "lost"
        if agent_released_short:
            return "agent_released_short"
        return "unknown"
    for low, high, name in _CLASS_BY_RANGE:
        if low <= cause <= high:
            return name
    return "unknown"
