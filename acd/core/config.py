"""The part of the settings the core reads, as plain frozen data (no environment, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acd.core.classify import CutoffPolicy
from acd.core.definitions import PERSONAL_QUEUE_PREFIX, is_personal_queue

if TYPE_CHECKING:  # the core never imports pydantic at run time
    from acd.settings import Settings

__all__ = ["PERSONAL_QUEUE_PREFIX", "CoreConfig", "QueueRules", "is_personal_queue"]


@dataclass(frozen=True, slots=True)
class QueueRules:
    service_level_seconds: float = 20.0
    short_abandon_seconds: float = 10.0
    wrapup_seconds: float = 0.0
    callback_window_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class CoreConfig:
    defaults: QueueRules = field(default_factory=QueueRules)
    queues: Mapping[str, QueueRules] = field(default_factory=dict)
    cutoff: CutoffPolicy = field(default_factory=CutoffPolicy)
    repeat_window_seconds: float = 86400.0
    finish_grace_seconds: float = 10.0  # wait this long after AgentComplete for the last hangups
    exit_decision_seconds: float = 1.0  # a caller who leaves and hangs up within this abandoned
    connect_wait_seconds: float = 5.0  # a leave with no QueueCallerAbandon waits this for AgentConnect
    complete_wait_seconds: float = 2.0  # an adopted call all hung up waits this for its AgentComplete
    stale_call_seconds: float = 6 * 3600.0  # a call older than this with no news is closed as partial
    sticky_window_seconds: float = 0.0  # sticky affinity looks back this far (0: sticky mode off)
    server_id: str = ""  # this server's ACD_SERVER_ID (a call another server passed here names its own)

    def queue(self, name: str) -> QueueRules:
        return self.queues.get(name, self.defaults)

    @property
    def history_horizon(self) -> float:
        longest_callback = max(
            [self.defaults.callback_window_seconds]
            + [q.callback_window_seconds for q in self.queues.values()]
        )
        return max(self.repeat_window_seconds, longest_callback, self.sticky_window_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> CoreConfig:
        """Build from the validated settings; the core keeps only these plain values."""

        def rules(name: str | None) -> QueueRules:
            q = settings.queue(name) if name else settings.queue_defaults
            return QueueRules(
                service_level_seconds=q.service_level_seconds,
                short_abandon_seconds=q.short_abandon_seconds,
                wrapup_seconds=q.wrapup_seconds,
                callback_window_seconds=q.callback_window_seconds,
            )

        return cls(
            defaults=rules(None),
            queues={name: rules(name) for name in settings.queues},
            cutoff=CutoffPolicy(
                normal_causes=frozenset(settings.cutoff_normal_causes),
                short_call_seconds=settings.short_call_seconds,
                short_agent_release_is_cutoff=settings.short_agent_release_is_cutoff,
            ),
            repeat_window_seconds=settings.repeat_window_seconds,
            server_id=settings.server_id,
            sticky_window_seconds=settings.affinity.sticky_window_seconds
            if settings.affinity.sticky
            else 0.0,
        )
