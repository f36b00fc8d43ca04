"""One check's verdict, and what a list of them means for the exit code and ``--json``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["CheckResult", "Verdict", "exit_code", "to_json"]

Verdict = Literal["OK", "WARN", "FAIL"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    verdict: Verdict
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def exit_code(results: Iterable[CheckResult]) -> int:
    return 1 if any(r.verdict == "FAIL" for r in results) else 0


def to_json(results: Sequence[CheckResult]) -> dict[str, Any]:
    return {"ok": exit_code(results) == 0, "checks": [r.as_dict() for r in results]}
