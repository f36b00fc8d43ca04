"""The OpenAPI 3.1 document served at ``/api/openapi.json`` (a test checks it covers every route)."""

from __future__ import annotations

from typing import Any

from acd import __version__
from acd.reads.review import REASONS, STATUSES

__all__ = ["openapi_document"]

_ERR = {"$ref": "#/components/schemas/Error"}


def _responses(ok: str, *codes: int) -> dict[str, Any]:
    text = {
        401: "missing or unknown bearer token",
        403: "the token's role may not do this",
        404: "unknown call or agent",
        409: "nobody answered the call: there is no conversation to record an outcome for",
        422: "invalid input; `field` names it",
        503: "database unavailable, or behind: the call's record is not stored yet (retry)",
    }
    out: dict[str, Any] = {
        "200": {"description": ok, "content": {"application/json": {"schema": {"type": "object"}}}}
    }
    for code in codes:
        out[str(code)] = {"description": text[code], "content": {"application/json": {"schema": _ERR}}}
    return out


def _query(*params: tuple[str, str]) -> list[dict[str, Any]]:
    """Optional string query parameters, (name, description) each."""
    return [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": d}
        for n, d in params
    ]


def openapi_document(dispositions: list[str]) -> dict[str, Any]:
    call_id = {
        "name": "call_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "customer call (Linkedid), or one of its queue entries (Uniqueid, Uniqueid#n)",
    }
    created = _responses("outcome stored", 401, 403, 404, 409, 422, 503)
    created["201"] = created.pop("200")
    adjusted = _responses("shares adjusted", 401, 403, 404, 422, 503)
    adjusted["201"] = adjusted.pop("200")
    reviewed = _responses("marked reviewed", 401, 403, 404, 422, 503)
    reviewed["201"] = reviewed.pop("200")
    agent_param = {
        "name": "agent",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "state interface (URL-encoded)",
    }
    period = _query(
        ("from", "ISO 8601 or epoch seconds, inclusive (default: 24 h before to)"),
        ("to", "ISO 8601 or epoch seconds, exclusive (default: now)"),
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "acd",
            "version": __version__,
            "description": "Call outcomes, call records, screen pop",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
                    "required": ["error"],
                },
                "OutcomeBody": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["disposition"],
                    "properties": {
                        "disposition": {"type": "string", "enum": dispositions},
                        "resolved": {"type": ["boolean", "null"]},
                        "notes": {"type": ["string", "null"], "maxLength": 20000},
                        "points": {"type": ["number", "null"], "minimum": 0},
                        "agent": {"type": ["string", "null"], "description": "supervisors only: for whom"},
                        "order": {"oneOf": [{"$ref": "#/components/schemas/Order"}, {"type": "null"}]},
                    },
                },
                "Order": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["ref", "status"],
                    "description": "an order this outcome leaves open (with what is left) or closes; the "
                    "sale's credit is settled when it is closed",
                    "properties": {
                        "ref": {"type": "string", "maxLength": 128},
                        "status": {"type": "string", "enum": ["open", "closed"]},
                        "left": {"type": ["string", "null"], "maxLength": 2000},
                    },
                },
                "CreditBody": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["shares", "reason"],
                    "properties": {
                        "shares": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["agent", "points"],
                                "properties": {
                                    "agent": {"type": "string"},
                                    "points": {"type": "number", "minimum": 0},
                                },
                            },
                        },
                        "reason": {
                            "type": "string",
                            "minLength": 1,
                            "description": "kept in the audit trail",
                        },
                        "sale": {
                            "type": ["string", "null"],
                            "description": "default: the chain's latest sale",
                        },
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/calls/{call_id}/outcome": {
                "post": {
                    "summary": "Record the outcome of a call (agents: their own calls only)",
                    "parameters": [call_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/OutcomeBody"}}
                        },
                    },
                    "responses": created,
                }
            },
            "/api/v1/calls/{call_id}": {
                "get": {
                    "summary": "A customer call: entries, offers, outcome history, credit",
                    "parameters": [call_id],
                    "responses": _responses("the call", 401, 404, 503),
                }
            },
            "/api/v1/calls": {
                "get": {
                    "summary": "Customer calls by agent, queue and time (agents: their own)",
                    "parameters": _query(
                        ("agent", "state interface of the agent who answered"),
                        ("queue", "queue name"),
                        ("since", "ISO 8601 or epoch seconds, inclusive"),
                        ("until", "ISO 8601 or epoch seconds, exclusive"),
                        ("limit", "at most this many calls (default 100, max 1000)"),
                    ),
                    "responses": _responses("calls, newest first", 401, 403, 422, 503),
                }
            },
            "/api/v1/calls/{call_id}/chain": {
                "get": {
                    "summary": "The call's callback chain: each call, its ending and notes, what called it "
                    "back, the open order, the sales and their credit shares, adjustments",
                    "parameters": [call_id],
                    "responses": _responses("the chain", 401, 404, 503),
                }
            },
            "/api/v1/calls/{call_id}/credit": {
                "post": {
                    "summary": "Adjust the shares of a sale of the call's chain (supervisors; audited)",
                    "parameters": [call_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/CreditBody"}}
                        },
                    },
                    "responses": adjusted,
                }
            },
            "/api/v1/calls/{call_id}/review": {
                "post": {
                    "summary": "Mark the call reviewed with a comment, for the reasons it is flagged for now "
                    "(supervisors)",
                    "parameters": [call_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["comment"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "comment": {"type": "string", "minLength": 1, "maxLength": 2000}
                                    },
                                }
                            }
                        },
                    },
                    "responses": reviewed,
                }
            },
            "/api/v1/agents/{agent}/summary": {
                "get": {
                    "summary": "One rep's numbers over [from, to): exactly their row of acd report",
                    "parameters": [agent_param, *period],
                    "responses": _responses("the summary", 401, 403, 422, 503),
                }
            },
            "/api/v1/report": {
                "get": {
                    "summary": "acd report over [from, to): the center's queues and reps, each server's "
                    "beside them (supervisors)",
                    "parameters": [
                        *period,
                        {
                            "name": "server",
                            "in": "query",
                            "schema": {"type": "string", "default": "all"},
                            "description": "one server's figures (ACD_SERVER_ID); all: the center's",
                        },
                    ],
                    "responses": _responses("the report", 401, 403, 422, 503),
                }
            },
            "/api/v1/review": {
                "get": {
                    "summary": "Calls worth a look, with their reasons (agents: their own)",
                    "parameters": [
                        *period,
                        {"name": "agent", "in": "query", "required": False, "schema": {"type": "string"}},
                        {
                            "name": "reason",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": list(REASONS)},
                        },
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "description": "open: not reviewed for every reason it has; reviewed: the rest",
                            "schema": {"type": "string", "enum": list(STATUSES)},
                        },
                    ],
                    "responses": _responses("flagged calls, newest first", 401, 403, 422, 503),
                }
            },
            "/api/v1/agents/{agent}/now": {
                "get": {
                    "summary": "Screen pop: the agent's state and call now, and who had this caller before",
                    "parameters": [
                        {
                            "name": "agent",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "state interface (URL-encoded) or member name",
                        }
                    ],
                    "responses": _responses("the agent now", 401, 403, 404, 503),
                }
            },
            "/api/openapi.json": {
                "get": {"summary": "This document", "security": [], "responses": _responses("OpenAPI 3.1")}
            },
        },
    }
