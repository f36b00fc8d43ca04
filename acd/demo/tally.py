"""What the demo's status line counts, from the daemon's own effects as they happen.

A sink on the daemon (it sees exactly what the writer and the metrics see): finished customer
calls, cut-offs, callbacks and how acd routed them. Callers waiting come from the core's live
snapshot; outcomes posted from the rep driver. Counted since the demo started (history excluded).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from acd.core.effects import AffinityDecided, CallFinished, Effect

__all__ = ["FALLBACKS", "Tally"]

FALLBACKS = ("fallback_busy_timeout", "fallback_no_answer", "fallback_unavailable")


@dataclass
class Tally:
    calls: int = 0  # customer calls finished (a callback's personal leg and shared leg: one)
    answered: int = 0
    cut_offs: int = 0
    callbacks: int = 0  # calls recognised as a callback of a cut-off
    routed: Counter[str] = field(default_factory=Counter)  # routing decisions by reason
    since: float = 0.0  # when the live run began (the daemon's clock): what "in" counts from
    # when (seconds after ``since``) the first callback that went on to reach its rep called
    first_to_their_rep: float | None = None
    _seen: set[str] = field(default_factory=set, repr=False)
    _answered: set[str] = field(default_factory=set, repr=False)

    def observe(self, effect: Effect) -> None:
        if isinstance(effect, AffinityDecided):
            if not effect.shadow:
                self.routed[effect.reason] += 1
                if effect.reason == "original_agent" and self.first_to_their_rep is None:
                    # The moment the headline feature first shows: a newcomer looks for it.
                    self.first_to_their_rep = max(0.0, effect.decided_at - self.since)
            return
        if not isinstance(effect, CallFinished):
            return
        rec = effect.record
        if rec.linkedid not in self._seen:
            # A personal leg that ended without an answer is followed by the shared leg: count the
            # customer call once, at whichever leg finishes first.
            self._seen.add(rec.linkedid)
            self.calls += 1
            if rec.callback_of is not None:
                self.callbacks += 1
        if rec.outcome == "answered" and rec.linkedid not in self._answered:
            self._answered.add(rec.linkedid)
            self.answered += 1
        if rec.cut_off:
            self.cut_offs += 1

    @property
    def routed_callbacks(self) -> int:
        """Callbacks acd routed (to their rep, fallbacks, and callers who hung up waiting)."""
        return sum(n for reason, n in self.routed.items() if reason not in ("no_history", "ineligible"))

    @property
    def to_their_rep(self) -> int:
        return self.routed["original_agent"]

    @property
    def fallbacks(self) -> int:
        return sum(self.routed[r] for r in FALLBACKS)
