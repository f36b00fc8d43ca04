"""Stored call rows against the simulator's truth: lost / doubled / wrong, and what was unknown.

- lost: a call the simulator made with no row;
- doubled: a row for no call the simulator made (a phantom, or a call stored under a second key);
- wrong: a row that says something else than the truth about queue, agent, outcome, who ended it,
  cut-off, callback or repeat link, or wait and talk by more than a second;
- unknown: a field the row's own source says it could not tell (``unknown_fields``: queue_log has
  no hang-up cause, and COMPLETECALLER does not say who hung up). Unknown is not wrong, and it is
  counted, so a run that learns less shows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Tally", "tally"]

TOLERANCE = 1.0


@dataclass
class Tally:
    calls: int = 0
    rows: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    unknown: int = 0
    sources: dict[str, int] = field(default_factory=dict)

    @property
    def line(self) -> str:
        src = ", ".join(f"{k} {v}" for k, v in sorted(self.sources.items()))
        return (
            f"{self.calls} calls, {self.rows} rows ({src}): lost {len(self.lost)} / doubled "
            f"{len(self.doubled)} / wrong {len(self.wrong)}; unknown fields {self.unknown}"
        )

    @property
    def clean(self) -> bool:
        return not (self.lost or self.doubled or self.wrong)


def _unknown(row: dict[str, Any]) -> set[str]:
    raw = row.get("unknown_fields")
    return set(json.loads(raw)) if raw else set()


def tally(truth: list[dict[str, Any]], rows: dict[str, dict[str, Any]]) -> Tally:
    out = Tally(calls=len(truth), rows=len(rows))
    for row in rows.values():
        source = row.get("source") or "ami"
        out.sources[source] = out.sources.get(source, 0) + 1
    for t in truth:
        r = rows.get(t["id"])
        if r is None:
            out.lost.append(f"{t['id']}: no row (truth {t['outcome']} in {t['queue']})")
            continue
        unknown = _unknown(r)
        checks: list[tuple[str, Any, Any]] = [
            ("queue", r["queue"], t["queue"]),
            ("outcome", r["outcome"], t["outcome"]),
            ("agent", r["agent_name"], t["agent"]),
            ("ended_by", r["ended_by"], t["ended_by"]),
            ("cut_off", bool(r["cut_off"]), bool(t["cut_off"])),
            ("callback_of", r["callback_of"], t["callback_of"]),
            ("repeat_of", r["repeat_of"], t["repeat_of"]),
        ]
        for name, got, want in checks:
            if name in unknown:
                out.unknown += 1
            elif got != want:
                out.wrong.append(f"{t['id']}: {name} {got!r} != truth {want!r} ({r.get('source')})")
        for name in ("wait_seconds", "talk_seconds"):
            got = r[name]
            if name in unknown or got is None:
                out.unknown += 1
            elif abs(got - t[name]) > TOLERANCE:
                out.wrong.append(f"{t['id']}: {name} {got} != truth {t[name]} ({r.get('source')})")
    known = {t["id"] for t in truth}
    out.doubled = sorted(f"{cid}: no such call" for cid in rows if cid not in known)
    return out
