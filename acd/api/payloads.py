"""Request payloads and query parameters, validated with a 422 that names the offending field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["BadInput", "OutcomeBody", "parse_outcome", "parse_time"]


class BadInput(Exception):
    """Client error: ``field`` names what is wrong (``body`` for the payload as a whole)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


class OutcomeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    disposition: str = Field(min_length=1, max_length=64)
    resolved: bool | None = None
    notes: str | None = Field(None, max_length=20_000)
    points: float | None = Field(None, ge=0, le=1_000_000)
    agent: str | None = Field(None, min_length=1, max_length=160, description="supervisors: for whom")


def parse_outcome(data: Any, dispositions: list[str]) -> OutcomeBody:
    if not isinstance(data, dict):
        raise BadInput("body", "expected a JSON object")
    if isinstance(data.get("points"), int) and not isinstance(data.get("points"), bool):
        data = {**data, "points": float(data["points"])}
    try:
        body = OutcomeBody.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadInput(field, first["msg"]) from None
    if body.disposition not in dispositions:
        raise BadInput("disposition", f"must be one of {dispositions}")
    return body


def parse_time(field: str, value: str | None) -> float | None:
    """Epoch seconds or ISO 8601 (a time without zone is UTC)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(field, "expected ISO 8601 time or epoch seconds") from None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
