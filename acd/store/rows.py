"""Effects to row dicts (pure): the one place that knows how a record maps onto the tables."""

from __future__ import annotations

import json
from typing import Any

from acd.core.definitions import is_personal_queue
from acd.core.effects import AffinityDecided, CallRecord, CustomerCall, GapRecorded, LegFacts, MemberSession

__all__ = [
    "call_row",
    "callback_link_row",
    "customer_call_row",
    "decision_row",
    "gap_row",
    "leg_row",
    "offer_rows",
    "reasons_from_text",
    "reasons_text",
    "session_row",
]


def reasons_text(reasons: tuple[str, ...]) -> str | None:
    """A cut-off's reasons as the ``cut_off_reasons`` column holds them (JSON, NULL for none)."""
    return json.dumps(list(reasons)) if reasons else None


def reasons_from_text(text: str | None) -> tuple[str, ...]:
    """The column read back: the one decoder for everything that reads it."""
    return tuple(json.loads(text)) if text else ()


def call_row(record: CallRecord, server_id: str) -> dict[str, Any]:
    routing = getattr(record, "routing", None)
    return {
        "server_id": server_id,
        "uniqueid": record.uniqueid,
        "entry": record.entry,
        "call_id": record.id,
        "linkedid": record.linkedid,
        "queue": record.queue,
        "personal": is_personal_queue(record.queue),
        "caller_num": record.caller_num,
        "caller_name": record.caller_name,
        "caller_key": record.caller_key,
        "account": record.account,
        "joined_at": record.joined_at,
        "ended_at": record.ended_at,
        "answered_at": record.answered_at,
        "outcome": record.outcome,
        "exit_reason": record.exit_reason,
        "agent": record.agent,
        "agent_name": record.agent_name,
        "wait_seconds": record.wait_seconds if record.wait_seconds is not None else 0.0,
        "talk_seconds": record.talk_seconds,
        "ended_by": record.ended_by,
        "cause": record.cause,
        "caller_cause": record.caller_cause,
        "agent_cause": record.agent_cause,
        "cut_off": record.cut_off,
        "cut_off_reasons": reasons_text(record.cut_off_reasons),
        "agent_released_short": record.agent_released_short,
        "transfer_target": record.transfer_target,
        "callback_of": record.callback_of,
        "repeat_of": record.repeat_of,
        "routing": routing if isinstance(routing, str) else None,
        "partial": record.partial,
        "position": record.position,
        "variables": json.dumps(dict(record.variables)) if record.variables else None,
        "source": record.source,
        "unknown_fields": json.dumps(list(record.unknown)) if record.unknown else None,
        "inferred_fields": json.dumps(list(record.inferred)) if record.inferred else None,
    }


def offer_rows(record: CallRecord, server_id: str) -> list[dict[str, Any]]:
    return [
        {
            "server_id": server_id,
            "uniqueid": record.uniqueid,
            "entry": record.entry,
            "seq": seq,
            "call_id": record.id,
            "agent": offer.agent,
            "agent_name": offer.agent_name,
            "rang_at": offer.rang_at,
            "result": offer.result,
            "ring_seconds": offer.ring_seconds,
        }
        for seq, offer in enumerate(record.offers)
    ]


def callback_link_row(record: CallRecord, server_id: str) -> dict[str, Any] | None:
    if not record.callback_of:
        return None
    return {
        "server_id": server_id,
        "call_id": record.id,
        "linkedid": record.linkedid,
        "original_call_id": record.callback_of,
        "linked_at": record.joined_at,
    }


def session_row(session: MemberSession, server_id: str) -> dict[str, Any]:
    return {
        "server_id": server_id,
        "agent": session.agent,
        "name": session.name,
        "queue": session.queue,
        "kind": session.kind,
        "reason": session.reason,
        "at": session.at,
    }


def gap_row(gap: GapRecorded, server_id: str) -> dict[str, Any]:
    return {
        "server_id": server_id,
        "started_at": gap.started_at,
        "ended_at": gap.ended_at,
        "reason": gap.reason,
        "calls_reconciled": gap.calls_reconciled,
        "calls_recovered": gap.calls_recovered,
        "calls_merged": gap.calls_merged,
        "queue_log": gap.queue_log,
    }


def decision_row(decision: AffinityDecided, server_id: str) -> dict[str, Any]:
    return {
        "server_id": server_id,
        "uniqueid": decision.uniqueid,
        "linkedid": decision.linkedid,
        "queue": decision.queue,
        "action": decision.action,
        "reason": decision.reason,
        "shadow": decision.shadow,
        "agent": decision.agent,
        "agent_name": decision.agent_name,
        "callback_of": decision.callback_of,
        "detail": decision.detail[:160] if decision.detail else None,
        "decided_at": decision.decided_at,
        "at": decision.at,
    }


def customer_call_row(call: CustomerCall, server_id: str) -> dict[str, Any]:
    """The columns the customer-call stage owns (the store adds next contact, exemption and the
    outcome summary itself)."""
    return {
        "server_id": server_id,
        "linkedid": call.linkedid,
        "queue": call.queue,
        "caller_num": call.caller_num,
        "caller_name": call.caller_name,
        "caller_key": call.caller_key,
        "keyed": call.caller_key is not None,
        "account": call.account,
        "joined_at": call.joined_at,
        "answered_at": call.answered_at,
        "ended_at": call.ended_at,
        "outcome": call.outcome,
        "live": call.live,
        "final": call.final,
        "agent": call.agent,
        "agent_name": call.agent_name,
        "wait_seconds": call.wait_seconds,
        "talk_seconds": call.talk_seconds,
        "ended_by": call.ended_by,
        "cause": call.cause,
        "cut_off": call.cut_off,
        "cut_off_reasons": reasons_text(call.cut_off_reasons),
        "agent_released_short": call.agent_released_short,
        "partial": call.partial,
        "legs": call.legs,
        "callback_of": call.callback_of,
        "repeat_of": call.repeat_of,
        "callback_result": call.callback_result,
        "chain_id": call.chain_id,
        "chain_seq": call.chain_seq,
        "routing": call.routing,
        "updated_at": call.at,
        "origin_server": call.origin_server,
        "origin_linkedid": call.origin_linkedid,
    }


def leg_row(leg: LegFacts, server_id: str) -> dict[str, Any]:
    """Bind parameters for the UPDATE of one entry row's ``leg_*`` columns."""
    return {
        "b_server_id": server_id,
        "b_uniqueid": leg.uniqueid,
        "b_entry": leg.entry,
        "leg_queue": leg.queue,
        "leg_counted": leg.counted,
        "leg_wait": leg.wait_seconds,
        "leg_closing": leg.closing,
    }
