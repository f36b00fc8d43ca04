"""Who is calling again: caller keys and a short, bounded history of finished calls.

A caller key is the account number when the dialplan passes one (it wins: one customer, several
phones), else the normalised number. Anonymous or withheld numbers get no key and never match:
linking two strangers who both withhold their number would send one to the other's agent.

The history is what the core needs to mark a new call as a **callback** (same key as a cut-off
call that ended within the queue's callback window) or a **repeat** (same key as an earlier
answered call within the repeat window, when it is not a callback). It holds only what those
windows can still reach: ``prune(now)`` drops older entries, so memory stays flat over a day.
The shell seeds it from the database at start (``History.add``), so a restart between a cut-off
and its callback changes nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from acd.core.fast_init import fast_init

__all__ = ["History", "PastCall", "caller_key", "link_unknown"]

_ANONYMOUS = frozenset(
    {"", "anonymous", "unknown", "<unknown>", "restricted", "private", "withheld", "unavailable", "s"}
)
_MIN_DIGITS = 3
_PER_KEY = 8


def caller_key(number: str | None, account: str | None = None) -> str | None:
    """``acct:<account>`` when given, else ``tel:<digits>`` (leading ``+``/``00`` dropped), else None."""
    if account and account.strip():
        return "acct:" + account.strip()
    if number is None:
        return None
    raw = number.strip()
    if raw.lower() in _ANONYMOUS:
        return None
    digits = "".join(ch for ch in raw if ch.isdigit())
    if len(digits) < _MIN_DIGITS:
        return None
    if not raw.startswith("+") and digits.startswith("00"):
        digits = digits[2:]
    return "tel:" + digits


@fast_init
@dataclass(frozen=True, slots=True)
class PastCall:
    id: str
    linkedid: str
    key: str
    queue: str
    agent: str | None
    agent_name: str | None
    answered: bool
    cut_off: bool
    ended_at: float
    chain_id: str | None = None  # its customer call's callback chain (from storage; None: its own)
    chain_seq: int = 0
    cut_off_known: bool = True  # False: recorded from queue_log, which has no hang-up cause
    server: str = ""  # the server that recorded it, when another ("": this server)
    joined_at: float | None = None  # when it joined its queue (None: not told)


def link_unknown(repeat_of: PastCall | None, now: float, callback_window: float) -> bool:
    """A repeat of a call whose cut-off nobody could tell, within the callback window: the new
    call may as well be a callback of it. Its links are then unknown, not wrong."""
    return (
        repeat_of is not None and not repeat_of.cut_off_known and now - repeat_of.ended_at <= callback_window
    )


class History:
    """Recent finished calls per caller key (newest last), bounded per key and by age."""

    __slots__ = ("_agents", "_by_key", "_order", "horizon")

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self._by_key: dict[str, deque[PastCall]] = {}
        self._order: deque[PastCall] = deque()
        self._agents: dict[str, str] = {}  # display name -> agent, as the latest call had it

    def __len__(self) -> int:
        return len(self._order)

    def add(self, call: PastCall) -> None:
        calls = self._by_key.get(call.key)
        if calls is None:
            calls = self._by_key[call.key] = deque(maxlen=_PER_KEY)
        calls.append(call)
        self._order.append(call)
        if call.agent and call.agent_name:
            self._agents[call.agent_name] = call.agent

    def note_agent(self, name: str, agent: str) -> None:
        """A display name the agent is known by (from storage), for queue_log's member names."""
        self._agents[name] = agent

    def learn(self, call: PastCall) -> None:
        """Add a call recorded elsewhere: it replaces an earlier version of the same call and takes
        its place by end time, so matching still sees each key's calls newest last."""
        calls = self._by_key.get(call.key)
        if calls is None:
            self.add(call)
            return
        kept = [c for c in calls if c.id != call.id]
        if len(kept) == len(calls) and calls and calls[-1].ended_at <= call.ended_at:
            self.add(call)
            return
        kept.append(call)
        kept.sort(key=lambda c: c.ended_at)
        calls.clear()
        calls.extend(kept)
        self._order.append(call)
        if call.agent and call.agent_name:
            self._agents[call.agent_name] = call.agent

    def agent_named(self, name: str) -> str | None:
        """The agent whose calls carried this display name (queue_log names members by it)."""
        return self._agents.get(name)

    def prune(self, now: float) -> None:
        limit = now - self.horizon
        order = self._order
        while order and order[0].ended_at < limit:
            old = order.popleft()
            calls = self._by_key.get(old.key)
            if calls and calls[0] is old:
                calls.popleft()
                if not calls:
                    del self._by_key[old.key]

    def match(
        self, key: str | None, linkedid: str, now: float, *, callback_window: float, repeat_window: float
    ) -> tuple[PastCall | None, PastCall | None]:
        """Return (callback_of, repeat_of) for a new call; at most one of them is set."""
        if key is None:
            return None, None
        calls = self._by_key.get(key)
        if not calls:
            return None, None
        for past in reversed(calls):
            if past.linkedid == linkedid or not past.answered:
                continue  # an earlier entry of this same customer call, or a call nobody took
            age = now - past.ended_at
            if past.cut_off and age <= callback_window:
                return past, None
            if age <= repeat_window:
                return None, past
            break
        return None, None

    def last_for(self, key: str | None) -> PastCall | None:
        if key is None:
            return None
        calls = self._by_key.get(key)
        return calls[-1] if calls else None
