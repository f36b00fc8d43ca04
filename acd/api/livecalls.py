"""Calls in progress, by id, for the screen pop: who is this caller the agent is talking to now?

The core's live snapshot names the agent's current call id; the caller key, and whether the call is
a callback, come from the ``CallStarted`` effect, and why it reached this agent from the routing
decision (``AffinityDecided``). The daemon feeds every effect to ``observe`` (a dict operation, no
I/O); finished calls are forgotten, so the index holds only live calls. Listeners (the pages' live
feed) see every effect after the index has taken it in.
"""

from __future__ import annotations

from collections.abc import Callable

from acd.core.effects import AffinityDecided, CallFinished, CallStarted, Effect

__all__ = ["LiveCalls"]

DECISIONS_KEPT = 10_000
ENDED_KEPT = 2_000


class LiveCalls:
    def __init__(self, limit: int = 100_000) -> None:
        self._calls: dict[str, CallStarted] = {}
        # Calls that ended lately, until their record is surely in the database: the pop and the
        # desk keep showing a call in the moment between its end and its stored record.
        self._ended: dict[str, CallStarted] = {}
        self._decisions: dict[str, AffinityDecided] = {}  # by the caller channel's Uniqueid
        self._limit = limit
        self._listeners: list[Callable[[Effect | AffinityDecided], None]] = []

    def observe(self, effect: Effect | AffinityDecided) -> None:
        if isinstance(effect, CallStarted):
            if len(self._calls) >= self._limit:  # calls whose end was never seen: drop the oldest
                self._calls.pop(next(iter(self._calls)))
            self._calls[effect.id] = effect
        elif isinstance(effect, CallFinished):
            ended = self._calls.pop(effect.record.id, None)
            if ended is not None:
                if len(self._ended) >= ENDED_KEPT:
                    self._ended.pop(next(iter(self._ended)))
                self._ended[ended.id] = ended
        elif isinstance(effect, AffinityDecided):
            # Kept past the entry's end (a callback's personal leg ends before its shared leg
            # starts); the recent ones are enough, older ones are in the database.
            if len(self._decisions) >= DECISIONS_KEPT:
                self._decisions.pop(next(iter(self._decisions)))
            self._decisions[effect.uniqueid] = effect
        for listener in self._listeners:
            listener(effect)

    def subscribe(self, listener: Callable[[Effect | AffinityDecided], None]) -> None:
        self._listeners.append(listener)

    def get(self, call_id: str) -> CallStarted | None:
        return self._calls.get(call_id)

    def find(self, ident: str) -> list[CallStarted]:
        """The live entries an id names: an entry id, a caller channel's Uniqueid or a Linkedid."""
        exact = self._calls.get(ident)
        if exact is not None:
            return [exact]
        return [c for c in self._calls.values() if ident in (c.uniqueid, c.linkedid)]

    def ended(self, ident: str) -> list[CallStarted]:
        """Entries that ended lately, named as :meth:`find` names them."""
        exact = self._ended.get(ident)
        if exact is not None:
            return [exact]
        return [c for c in self._ended.values() if ident in (c.uniqueid, c.linkedid)]

    def decision(self, uniqueid: str) -> AffinityDecided | None:
        return self._decisions.get(uniqueid)

    def __len__(self) -> int:
        return len(self._calls)
