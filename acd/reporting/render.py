"""The report on a terminal (aligned tables), as JSON, or as CSV (one row per queue and agent)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from acd.reporting.compute import WINDOWS, Report

__all__ = ["flatten", "to_csv", "to_json", "to_table"]


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=False)


def flatten(stats: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in stats.items():
        if key == "repeat_contacts":
            for window, counts in value.items():
                for part in ("repeats", "decided", "pending", "rate"):
                    out[f"repeat_{window}_{part}"] = counts[part]
        elif key == "fcr":
            for window, rate in value.items():
                out[f"fcr_{window}"] = rate
        elif key == "callbacks_by_routing":
            out[key] = ";".join(f"{k}={v}" for k, v in sorted(value.items()))
        else:
            out[key] = value
    return out


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    rows = [{"kind": "queue", "name": n, **flatten(s)} for n, s in report.queues.items()]
    rows += [{"kind": "agent", "name": n, **flatten(s)} for n, s in report.agents.items()]
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    writer = csv.DictWriter(buffer, fieldnames=fields or ["kind", "name"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s"


def _repeat(stats: dict[str, Any], window: str) -> str:
    counts = stats["repeat_contacts"][window]
    shown = f"{counts['repeats']}/{counts['decided']}"
    if counts["pending"]:
        shown += f" ({counts['pending']} pending)"
    return shown


def _fcr(stats: dict[str, Any]) -> str:
    parts = []
    for window in WINDOWS:
        rate = stats["fcr"][window]
        parts.append(
            "pending" if rate is None and stats["repeat_contacts"][window]["pending"] else _pct(rate)
        )
    return " / ".join(parts)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def to_table(report: Report) -> str:
    queue_rows = [
        [
            name,
            str(q["offered"]),
            str(q["answered"]),
            f"{q['abandoned']} (+{q['abandoned_short']} short)",
            str(q["exited"]),
            _pct(q["service_level"]),
            _secs(q["asa_seconds"]),
            _secs(q["aht_seconds"]),
            str(q["cut_offs"]),
            ", ".join(f"{k} {v}" for k, v in sorted(q["callbacks_by_routing"].items())) or "0",
            _repeat(q, "24h"),
            _repeat(q, "7d"),
            _repeat(q, "30d"),
            _fcr(q),
            str(q["without_notes"]),
            f"{q['credit_points']:g}",
        ]
        for name, q in report.queues.items()
    ]
    agent_rows = [
        [
            name,
            str(a["answered"]),
            _secs(a["aht_seconds"]),
            str(a["cut_offs"]),
            str(a["agent_released_short"]),
            f"{a['callbacks_taken']} ({a['callbacks_of_own_cut_offs']} own)",
            _repeat(a, "24h"),
            _repeat(a, "7d"),
            _repeat(a, "30d"),
            _fcr(a),
            str(a["without_notes"]),
            f"{a['credit_points']:g}",
        ]
        for name, a in report.agents.items()
    ]
    head = (
        f"acd report {_when(report.since)} .. {_when(report.until)}"
        f" (repeat windows judged at {_when(report.now)})"
    )
    queues = _table(
        ["queue", "offered", "answered", "abandoned", "exited", "SL", "ASA", "AHT", "cut-offs", "callbacks",
         "repeat 24h", "repeat 7d", "repeat 30d", "FCR 24h/7d/30d", "no notes", "credit"],
        queue_rows,
    )  # fmt: skip
    agents = _table(
        ["agent", "answered", "AHT", "cut-offs", "short released", "callbacks", "repeat 24h", "repeat 7d",
         "repeat 30d", "FCR 24h/7d/30d", "no notes", "credit"],
        agent_rows,
    )  # fmt: skip
    if not report.queues and not report.agents:
        return f"{head}\n\nno calls in this period\n"
    return f"{head}\n\n{queues}\n\n{agents}\n"
