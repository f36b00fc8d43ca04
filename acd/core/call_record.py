"""A finished queue entry's record, built from the entry and its channels' causes. Pure.

Rules:
- Answered (an agent took it): ``ended_by`` from classify.py's rule over the signals seen after
  the connect; a call Asterisk's shutdown ended is the system's and lost to the restart. Its wait
  is Asterisk's HoldTime, unknown (None) for a call adopted in a resync that ended without an
  AgentComplete saying it: never the channel's age.
- Not answered: ``abandoned`` when the caller hung up while waiting (``short`` under the queue's
  ``short_abandon_seconds``, else ``long``); ``exited`` otherwise, by the system, for the reason
  known before (``withdraw``, queue_log's), else ``redirect`` when the caller left for another
  dialplan context, else ``timeout``; a call whose end acd lost exited for that loss (``stale``,
  ``ami_gap``, ``asterisk_restart``).
- Cut-off and the agent-released short call: classify.py. The record's ``cause`` is the side's
  that ended it, else the first abnormal one, else whichever is known.
- An adopted call that waited for its AgentComplete ended at its last hang-up.
"""

from __future__ import annotations

from acd.core.caller_history import PastCall
from acd.core.classify import classify_cutoff, ended_by
from acd.core.config import CoreConfig, QueueRules
from acd.core.effects import CallRecord, EndedBy, Outcome
from acd.core.entities import Entry, Lost

__all__ = ["build_record", "past_call"]


def build_record(
    entry: Entry,
    now: float,
    caller_causes: list[int | None],
    agent_causes: list[int | None],
    config: CoreConfig,
) -> CallRecord:
    answered = entry.agent is not None
    ended_at = entry.hung_up_at if entry.hung_up_at is not None else now
    lost = entry.lost
    exit_reason: str | None = None
    if answered:
        outcome: Outcome = "answered"
        wait = entry.hold_time
        talk = (
            entry.talk_time
            if entry.talk_time is not None
            else (max(0.0, ended_at - entry.answered_at) if entry.answered_at is not None else 0.0)
        )
        who, lost = _answered_end(entry)
    else:
        talk = 0.0
        outcome, exit_reason, who, wait = _unanswered_end(entry, config.queue(entry.queue), ended_at)
    normal = config.cutoff.normal_causes
    cut, reasons, short = classify_cutoff(
        answered=answered,
        caller_causes=caller_causes,
        agent_causes=agent_causes,
        ended=who,
        talk_seconds=talk,
        lost=lost,
        policy=config.cutoff,
    )
    caller_cause = _worst(caller_causes, normal)
    agent_cause = _worst(agent_causes, normal)
    return CallRecord(
        id=entry.id,
        uniqueid=entry.uniqueid,
        entry=entry.number,
        linkedid=entry.linkedid,
        queue=entry.queue,
        caller_num=entry.caller_num or None,
        caller_name=entry.caller_name or None,
        caller_key=entry.key,
        joined_at=entry.joined_at,
        ended_at=ended_at,
        outcome=outcome,
        exit_reason=exit_reason,
        agent=entry.agent,
        agent_name=entry.agent_name,
        answered_at=entry.answered_at,
        wait_seconds=None if wait is None else max(0.0, wait),
        talk_seconds=max(0.0, talk),
        ended_by=who,
        cause=_cause(who, caller_cause, agent_cause, normal),
        caller_cause=caller_cause,
        agent_cause=agent_cause,
        cut_off=cut,
        cut_off_reasons=reasons,
        agent_released_short=short,
        transfer_target=entry.transfer_target,
        callback_of=entry.callback_of,
        repeat_of=entry.repeat_of,
        partial=entry.partial,
        position=entry.position,
        offers=tuple(entry.offers),
        account=entry.account,
        source=entry.source,
        unknown=tuple(sorted(entry.unknown)),
        inferred=tuple(sorted(entry.inferred)),
    )


def past_call(entry: Entry, record: CallRecord) -> PastCall | None:
    """What the caller history keeps of the record (nothing for a caller without a key)."""
    if entry.key is None:
        return None
    return PastCall(
        entry.id,
        entry.linkedid,
        entry.key,
        entry.queue,
        entry.agent,
        entry.agent_name,
        record.outcome == "answered",
        record.cut_off,
        record.ended_at,
        cut_off_known="cut_off" not in entry.unknown,
        joined_at=record.joined_at,
    )


def _answered_end(entry: Entry) -> tuple[EndedBy | None, Lost | None]:
    """Who ended an answered call, and what its end was lost to."""
    who = ended_by(
        entry.signals,
        reason=entry.completed_by,
        transferred=entry.transferred,
        shutdown=entry.shutdown,
    )
    lost = entry.lost
    if who is None and lost == "asterisk_restart":
        who = "system"
    if who == "system" and lost is None:
        lost = "asterisk_restart"
    return who, lost


def _unanswered_end(
    entry: Entry, rules: QueueRules, ended_at: float
) -> tuple[Outcome, str | None, EndedBy, float]:
    """(outcome, exit reason, ended by, wait) of a caller no agent took."""
    wait = (
        entry.abandon_hold
        if entry.abandon_hold is not None
        else max(0.0, (entry.left_at or ended_at) - entry.joined_at)
    )
    if entry.state == "abandoned":  # the caller hung up while waiting
        return "abandoned", ("short" if wait < rules.short_abandon_seconds else "long"), "caller", wait
    if entry.lost is not None and entry.state != "exited":
        return "exited", entry.lost, "system", wait
    # The queue (timeout, empty), acd (withdraw) or a redirect took the caller out.
    if entry.exit_reason is not None:
        reason = entry.exit_reason
    elif entry.leave_context and entry.join_context and entry.leave_context != entry.join_context:
        reason = "redirect"
    else:
        reason = "timeout"
    return "exited", reason, "system", wait


def _cause(who: EndedBy | None, caller: int | None, agent: int | None, normal: frozenset[int]) -> int | None:
    if who == "agent":
        return agent
    if who == "caller":
        return caller
    return next(
        (c for c in (caller, agent) if c not in (None, 0, *normal)),
        caller if caller is not None else agent,
    )


def _worst(causes: list[int | None], normal: frozenset[int]) -> int | None:
    known = [c for c in causes if c is not None]
    if not known:
        return None
    abnormal = [c for c in known if c != 0 and c not in normal]
    if abnormal:
        return abnormal[0]
    nonzero = [c for c in known if c != 0]
    return nonzero[0] if nonzero else 0
