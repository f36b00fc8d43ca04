"""What the core decides, as plain data. The shell turns effects into rows, metrics, logs and actions.

Every effect is a frozen dataclass so it can be queued, spooled to disk (``as_dict``) and compared
in tests. Times are seconds since the epoch in the core's clock (the AMI ``Timestamp`` header when
Asterisk sends one, else receive time, scaled by the simulator speed when one is set).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Literal

from acd.core.fast_init import fast_init

__all__ = [
    "AffinityDecided",
    "AgentOffer",
    "Anomaly",
    "CallFinished",
    "CallRecord",
    "CallStarted",
    "CustomerCall",
    "CustomerCallUpdated",
    "Effect",
    "GapRecorded",
    "LegFacts",
    "LegSettled",
    "MemberSession",
    "MemberStateChanged",
    "OutcomeReported",
    "ResyncDone",
    "WithdrawRequested",
    "as_dict",
]

Outcome = Literal["answered", "abandoned", "exited"]
EndedBy = Literal["caller", "agent", "transfer", "system"]
MemberState = Literal["available", "ringing", "in_call", "wrapup", "paused", "logged_out", "unavailable"]


@fast_init
@dataclass(frozen=True, slots=True)
class AgentOffer:
    """One ring of one agent for one queue entry."""

    agent: str  # state interface
    agent_name: str
    rang_at: float
    result: Literal["answered", "no_answer", "cancelled"]
    ring_seconds: float


@fast_init
@dataclass(frozen=True, slots=True)
class CallRecord:
    """One queue entry, finished. ``id`` is the caller channel's Uniqueid, plus ``#n`` for its n-th
    queue entry (n >= 2), so the same traffic always yields the same ids (replay and resync never
    duplicate)."""

    id: str
    uniqueid: str
    entry: int
    linkedid: str
    queue: str
    caller_num: str | None
    caller_name: str | None
    caller_key: str | None  # normalised number or account; None for anonymous
    joined_at: float
    ended_at: float
    outcome: Outcome
    exit_reason: (
        str | None
    )  # abandoned: "short"|"long"; exited: "timeout"|"empty"|"key"|"withdraw"|"redirect"
    agent: str | None  # state interface of the answering agent
    agent_name: str | None
    answered_at: float | None
    wait_seconds: float | None  # None: acd adopted the call and Asterisk never said how long it waited
    talk_seconds: float
    ended_by: EndedBy | None
    cause: int | None  # the cause that ended the call (the cut side's, when cut off)
    caller_cause: int | None
    agent_cause: int | None
    cut_off: bool
    cut_off_reasons: tuple[str, ...]
    agent_released_short: bool
    transfer_target: str | None
    callback_of: str | None
    repeat_of: str | None
    partial: bool  # acd did not see the whole call (attached mid-call, AMI gap, restart)
    position: int | None
    offers: tuple[AgentOffer, ...] = ()
    account: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    # Where the record comes from: "ami" (acd saw it), "queue_log" (recovered from Asterisk's
    # queue_log after acd missed it), "merged" (each told part). ``unknown`` names the fields the
    # source could not tell (queue_log: the cause, so whether it was cut off; who ended it after a
    # COMPLETECALLER); ``inferred`` those deduced rather than seen (a call taken by a restart).
    source: str = "ami"
    unknown: tuple[str, ...] = ()
    inferred: tuple[str, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True)
class CallStarted:
    """A caller joined a queue (for live metrics and routing; the row is written on CallFinished)."""

    id: str
    uniqueid: str
    linkedid: str
    queue: str
    caller_key: str | None
    at: float
    callback_of: str | None
    repeat_of: str | None
    caller_num: str | None = None
    caller_name: str | None = None
    callback_call: str | None = None  # Linkedid of the customer call of ``callback_of``
    repeat_call: str | None = None  # Linkedid of the customer call of ``repeat_of``


@fast_init
@dataclass(frozen=True, slots=True)
class CallFinished:
    record: CallRecord


@fast_init
@dataclass(frozen=True, slots=True)
class MemberStateChanged:
    queue: str
    agent: str  # state interface
    name: str
    state: MemberState
    previous: MemberState | None
    paused_reason: str | None
    at: float


@fast_init
@dataclass(frozen=True, slots=True)
class MemberSession:
    """Login/logout/pause/unpause of an agent in a queue, for agent session rows."""

    kind: Literal["login", "logout", "pause", "unpause"]
    queue: str
    agent: str
    name: str
    reason: str | None
    at: float


@fast_init
@dataclass(frozen=True, slots=True)
class OutcomeReported:
    """A disposition that arrived over AMI (``UserEvent: CallOutcome`` from the dialplan)."""

    call_uniqueid: str | None
    linkedid: str | None
    agent: str | None
    disposition: str | None
    resolved: bool | None
    notes: str | None
    points: float | None
    at: float
    headers: tuple[tuple[str, str], ...] = ()
    # An order the outcome leaves open ("open", with what is left) or closes ("closed"), as the
    # API's outcome can; from the phone: OrderRef/OrderStatus/OrderLeft headers.
    order_ref: str | None = None
    order_status: Literal["open", "closed"] | None = None
    order_left: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class GapRecorded:
    """acd could not see Asterisk from ``started_at`` to ``ended_at`` (disconnect, restart, attach)."""

    started_at: float | None
    ended_at: float
    reason: str
    calls_reconciled: int
    calls_recovered: int = 0  # recorded from queue_log: acd saw nothing of them
    calls_merged: int = 0  # closed or completed with what queue_log said
    queue_log: str | None = None  # "read", "unreadable" or None (not configured)


@fast_init
@dataclass(frozen=True, slots=True)
class ResyncDone:
    at: float
    queues: int
    members: int
    channels: int
    calls_closed: int


@fast_init
@dataclass(frozen=True, slots=True)
class Anomaly:
    """An expected oddity (unknown channel, missing header, event after a gap): data, not an error."""

    kind: str
    event: str | None
    detail: str
    at: float


@fast_init
@dataclass(frozen=True, slots=True)
class AffinityDecided:
    """The final routing reason of one caller that asked acd where to go (acd/core/affinity.py).

    Emitted by the core once per caller whose routing answer the dialplan confirmed
    (``UserEvent: AcdRouted``; an answer that reached nobody is never recorded), when the one
    preferred attempt is settled. ``uniqueid``/``channel`` are the caller channel's; ``call_ids``
    the queue entries of that channel seen so far (personal queue first); the store puts
    ``reason`` in the calls' ``routing``. ``shadow``: decided and recorded only, the caller went to
    the queue as without acd. ``cutoff_at``: when the call it is a callback of was cut off.
    The customer-call stage (acd/core/customer.py) reads it for the shared queue a personal leg
    is reported under (acd/core/customer_legs.py) and the routing reason of the customer call.
    """

    uniqueid: str
    linkedid: str | None
    call_ids: tuple[str, ...]
    queue: str  # the shared queue the caller asked for
    action: Literal["offer_now", "wait_for_agent", "queue"]
    reason: str  # original_agent | fallback_busy_timeout | fallback_unavailable | fallback_no_answer
    #              | no_history | ineligible | abandoned
    shadow: bool
    agent: str | None  # the preferred (original) agent
    agent_name: str | None
    callback_of: str | None  # the cut-off (or, sticky, last answered) call
    detail: str
    decided_at: float
    at: float
    channel: str = ""
    cutoff_at: float | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class WithdrawRequested:
    """Take this caller out of ``queue`` now (``QueueWithdrawCaller``): the preferred agent's one
    ring went unanswered while the caller waited for them. The core has already marked the exit as
    a withdrawal, so it is never counted as an abandon."""

    queue: str
    channel: str
    uniqueid: str
    at: float


@fast_init
@dataclass(frozen=True, slots=True)
class CustomerCall:
    """One customer call (the queue entries sharing a Linkedid) as acd reports it: the row the store
    upserts, keyed by server and Linkedid. Built by the customer-call stage (acd/core/customer.py);
    the docstrings of acd/core/customer_legs.py and acd/core/customer_record.py define every
    field; ``None`` means not known (yet), never zero."""

    linkedid: str
    queue: str | None  # the shared queue it is reported under
    caller_num: str | None
    caller_name: str | None
    caller_key: str | None
    account: str | None
    joined_at: float  # first arrival in any queue
    answered_at: float | None  # first answer
    ended_at: float | None  # None while an entry is still in a queue or connected
    outcome: Outcome | None  # None while undecided (waiting)
    live: bool
    final: bool  # every channel of the Linkedid has hung up: nothing more can happen to it
    agent: str | None  # who closed it: the agent of its last answered leg
    agent_name: str | None
    wait_seconds: float | None  # first arrival to first answer (or to leaving, unanswered)
    talk_seconds: float
    ended_by: EndedBy | None  # of the closing leg
    cause: int | None
    cut_off: bool
    cut_off_reasons: tuple[str, ...]
    agent_released_short: bool
    partial: bool
    legs: int  # legs counted (shared-queue entries and answered personal ones)
    callback_of: str | None  # Linkedid of the cut-off call this one calls back
    repeat_of: str | None  # Linkedid of the earlier answered call within the repeat window
    callback_result: str | None  # original_agent | other_agent | original_unknown | abandoned | exited
    chain_id: str  # Linkedid of the first call of its callback chain (its own when none)
    chain_seq: int  # 0 for the first call of the chain
    routing: str | None  # the affinity decision's reason, when one was made for it
    at: float  # when this version was built
    # The call another server passed here over a trunk (the dialplan's ACD_ORIGIN): this row is its
    # continuation, and the pair is one customer call (acd/core/origin.py).
    origin_server: str | None = None
    origin_linkedid: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class LegFacts:
    """How one queue entry of a customer call is reported (the store sets these on the entry's row)."""

    call_id: str
    uniqueid: str
    entry: int
    queue: str | None  # the shared queue it counts under (a personal entry's customer call's queue)
    counted: bool  # a leg of its own; False: an unanswered personal entry folded into the next leg
    wait_seconds: float | None  # from the first arrival of the entries folded into it
    closing: bool  # the customer call's last answered leg


@fast_init
@dataclass(frozen=True, slots=True)
class CustomerCallUpdated:
    """A customer call changed (started, an entry finished, routed, ended, final): stored as an
    upsert. ``legs`` are the facts of its finished entries (empty while none has finished)."""

    call: CustomerCall
    legs: tuple[LegFacts, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True)
class LegSettled:
    """One queue entry's place in the numbers is decided, once (the counters' input; not stored).

    ``counted`` False: an unanswered personal entry whose caller went on to the shared queue (its
    wait is in that leg's). ``callback_result`` for callbacks: original_agent, other_agent,
    original_unknown, abandoned or exited."""

    record: CallRecord
    queue: str
    counted: bool
    wait_seconds: float | None
    callback_result: str | None = None


Effect = (
    CallStarted
    | CallFinished
    | CustomerCallUpdated
    | LegSettled
    | MemberStateChanged
    | MemberSession
    | OutcomeReported
    | GapRecorded
    | ResyncDone
    | Anomaly
    | AffinityDecided
    | WithdrawRequested
)


def _plain(value: Any) -> Any:
    """Dataclasses to dicts, tuples to lists; a shallow walk (``dataclasses.asdict`` deep-copies every
    value, which costs the journal's thread, and so the event loop, about 3x as much)."""
    names = _FIELDS.get(type(value))
    if names is None and is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[type(value)] = tuple(f.name for f in fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


_FIELDS: dict[type, tuple[str, ...]] = {}


def as_dict(effect: Effect) -> dict[str, Any]:
    """JSON-able form, tagged with the effect's type (for the journal and ``--json`` output)."""
    out: dict[str, Any] = _plain(effect)
    out["type"] = type(effect).__name__
    return out
