"""Request payloads and query parameters, validated with a 422 that names the offending field."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

_M = TypeVar("_M", bound=BaseModel)

__all__ = [
    "BadInput",
    "CreditBody",
    "OrderBody",
    "OutcomeBody",
    "parse_credit",
    "parse_outcome",
    "parse_time",
]


class BadInput(Exception):
    """Client error: ``field`` names what is wrong (``body`` for the payload as a whole)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


class OrderBody(BaseModel):
    """An order the outcome leaves open (``open``: reference and what is left) or closes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    ref: str = Field(min_length=1, max_length=128)
    status: Literal["open", "closed"]
    left: str | None = Field(None, max_length=2000)


class OutcomeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    disposition: str = Field(min_length=1, max_length=64)
    resolved: bool | None = None
    notes: str | None = Field(None, max_length=20_000)
    points: float | None = Field(None, ge=0, le=1_000_000)
    agent: str | None = Field(None, min_length=1, max_length=160, description="supervisors: for whom")
    order: OrderBody | None = None


class ShareBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    agent: str = Field(min_length=1, max_length=160)
    points: float = Field(ge=0, le=1_000_000)


class CreditBody(BaseModel):
    """A supervisor's adjustment of a sale's shares; the reason is kept in the audit trail."""

    model_config = ConfigDict(extra="forbid", strict=True)

    shares: list[ShareBody] = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=1, max_length=2000)
    sale: str | None = Field(None, min_length=1, max_length=80, description="default: the chain's latest")

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must say why")
        return value.strip()

    @field_validator("shares")
    @classmethod
    def _one_each(cls, value: list[ShareBody]) -> list[ShareBody]:
        agents = [s.agent for s in value]
        if len(set(agents)) != len(agents):
            raise ValueError("one share per agent")
        return value


def _numbers(data: Any) -> Any:
    """JSON integers where floats are expected (``"points": 40``), never booleans."""
    if isinstance(data, dict):
        return {k: float(v) if k == "points" and type(v) is int else _numbers(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_numbers(v) for v in data]
    return data


def _validate(model: type[_M], data: Any) -> _M:
    if not isinstance(data, dict):
        raise BadInput("body", "expected a JSON object")
    try:
        return model.model_validate(_numbers(data))
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        message = first["msg"].removeprefix("Value error, ")
        raise BadInput(field, message) from None


def parse_outcome(data: Any, dispositions: list[str]) -> OutcomeBody:
    body = _validate(OutcomeBody, data)
    if body.disposition not in dispositions:
        raise BadInput("disposition", f"must be one of {dispositions}")
    return body


def parse_credit(data: Any) -> CreditBody:
    return _validate(CreditBody, data)


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
