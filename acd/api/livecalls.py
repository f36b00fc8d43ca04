"""Calls in progress, by id, for the screen pop: who is this caller the agent is talking to now?

The core's live snapshot names the agent's current call id; the caller key, and whether the call is
a callback, come from the ``CallStarted`` effect. The daemon feeds every effect to ``observe`` (a
dict operation, no I/O); finished calls are forgotten, so the index holds only live calls.
"""

from __future__ import annotations

from acd.core.effects import CallFinished, CallStarted, Effect

__all__ = ["LiveCalls"]


class LiveCalls:
    def __init__(self, limit: int = 100_000) -> None:
        self._calls: dict[str, CallStarted] = {}
        self._limit = limit

    def observe(self, effect: Effect) -> None:
        if isinstance(effect, CallStarted):
            if len(self._calls) >= self._limit:  # calls whose end was never seen: drop the oldest
                self._calls.pop(next(iter(self._calls)))
            self._calls[effect.id] = effect
        elif isinstance(effect, CallFinished):
            self._calls.pop(effect.record.id, None)

    def get(self, call_id: str) -> CallStarted | None:
        return self._calls.get(call_id)

    def __len__(self) -> int:
        return len(self._calls)
