"""Builders for the core's records in store, API and report tests (plain data, no core needed)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from acd.core.customer import customer_calls_of
from acd.core.effects import AgentOffer, CallFinished, CallRecord, CustomerCallUpdated

BASE = 1_790_000_000.0  # a fixed epoch second so hand-computed fixtures stay readable


def record(uniqueid: str, *, entry: int = 1, **fields: Any) -> CallRecord:
    """An answered 30 s call after 5 s in ``sales`` unless ``fields`` say otherwise."""
    joined = fields.pop("joined_at", BASE)
    wait = fields.pop("wait_seconds", 5.0)
    known_wait = wait if wait is not None else 0.0
    talk = fields.pop("talk_seconds", 30.0)
    outcome = fields.pop("outcome", "answered")
    answered = outcome == "answered"
    agent = fields.pop("agent", "Local/1001@agents" if answered else None)
    defaults: dict[str, Any] = {
        "id": uniqueid if entry == 1 else f"{uniqueid}#{entry}",
        "uniqueid": uniqueid,
        "entry": entry,
        "linkedid": uniqueid,
        "queue": "sales",
        "caller_num": "5550100",
        "caller_name": "Jane Doe",
        "caller_key": "5550100",
        "joined_at": joined,
        "ended_at": joined + known_wait + (talk if answered else 0.0),
        "outcome": outcome,
        "exit_reason": None,
        "agent": agent,
        "agent_name": ("Agent " + agent.split("/")[1].split("@")[0]) if agent else None,
        "answered_at": joined + known_wait if answered else None,
        "wait_seconds": wait,
        "talk_seconds": talk if answered else 0.0,
        "ended_by": "caller",
        "cause": 16,
        "caller_cause": 16,
        "agent_cause": 16 if answered else None,
        "cut_off": False,
        "cut_off_reasons": (),
        "agent_released_short": False,
        "transfer_target": None,
        "callback_of": None,
        "repeat_of": None,
        "partial": False,
        "position": 1,
        "offers": (AgentOffer(agent, "Agent", joined + 1, "answered", known_wait - 1),) if agent else (),
    }
    defaults.update(fields)
    return CallRecord(**defaults)


def finished(uniqueid: str, **fields: Any) -> CallFinished:
    return CallFinished(record(uniqueid, **fields))


def with_customer_calls(effects: list[Any]) -> list[Any]:
    """``effects`` followed by the customer calls the core's stage makes of them (each call final),
    as the daemon writes them: what the store, the reads and the report expect to find."""
    made = [e for e in customer_calls_of(effects) if isinstance(e, CustomerCallUpdated)]
    return [*effects, *made]


__all__ = ["BASE", "finished", "record", "replace", "with_customer_calls"]
