"""The report on a terminal (aligned tables), as JSON, or as CSV (one row per queue and agent).

FCR per window reads "96.4% +3" (3 calls still pending), "pending 3" while no call of the period
has had its window close, and "no data" when there is nothing to judge: never 0 % for an empty
base. Credit marked ``*`` holds a supervisor's adjustment, ``!`` a disputed sale.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from acd.core.definitions import WINDOWS
from acd.reads.summary import Report

__all__ = ["fcr_text", "flatten", "to_csv", "to_json", "to_table"]


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=False)


def _pairs(value: dict[str, Any]) -> str:
    return ";".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(value.items()))


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
        elif isinstance(value, dict):
            out[key] = _pairs(value)
        else:
            out[key] = value
    return out


def _csv_rows(report: Report, server: str | None) -> list[dict[str, Any]]:
    where = {"server": server} if server is not None else {}
    rows = [{**where, "kind": "queue", "name": n, **flatten(s)} for n, s in report.queues.items()]
    rows += [{**where, "kind": "agent", "name": n, **flatten(s)} for n, s in report.agents.items()]
    return rows


def to_csv(report: Report) -> str:
    """One row per queue and agent; with several servers a ``server`` column, ``all`` for the
    center's rows, then each server's."""
    buffer = io.StringIO()
    rows = _csv_rows(report, "all" if report.servers else None)
    for name, one in report.servers.items():
        rows += _csv_rows(one, name)
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
    """``R/D +P``: R repeat contacts among D calls whose window has closed, P calls still in it."""
    counts = stats["repeat_contacts"][window]
    shown = f"{counts['repeats']}/{counts['decided']}"
    if counts["pending"]:
        shown += f" +{counts['pending']}"
    return shown


def fcr_text(counts: dict[str, Any]) -> str:
    """One window's FCR as every reader words it (the pages too)."""
    if not counts["decided"]:
        return f"pending {counts['pending']}" if counts["pending"] else "no data"
    rate = 1.0 - counts["repeats"] / counts["decided"]
    return _pct(rate) + (f" +{counts['pending']}" if counts["pending"] else "")


def _fcr_window(stats: dict[str, Any], window: str) -> str:
    return fcr_text(stats["repeat_contacts"][window])


def _fcr(stats: dict[str, Any]) -> str:
    return " / ".join(_fcr_window(stats, w) for w in WINDOWS)


def _abandoned(stats: dict[str, Any]) -> str:
    short = stats["abandoned_short"]
    return f"{stats['abandoned']} +{short}" if short else str(stats["abandoned"])


def _listed(value: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "0"


def _credit(stats: dict[str, Any]) -> str:
    marks = ("*" if stats["credit_adjusted"] else "") + ("!" if stats["credit_disputed"] else "")
    return f"{stats['credit_points']:g}{marks}"


Cell = Callable[[dict[str, Any]], str]


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    cell: Cell
    wide_only: bool = False  # shown with --wide only
    narrow_only: bool = False  # a summary the --wide columns spell out


# Repeat contacts, FCR, resolved and notes read the same for a queue and for a rep.
_QUALITY = (
    Column("repeat 24h", lambda x: _repeat(x, "24h")),
    Column("repeat 7d", lambda x: _repeat(x, "7d"), wide_only=True),
    Column("repeat 30d", lambda x: _repeat(x, "30d"), wide_only=True),
    Column("FCR 24h", lambda x: _fcr_window(x, "24h"), narrow_only=True),
    Column("FCR 24h/7d/30d", _fcr, wide_only=True),
    Column("resolved", lambda x: str(x["resolved"])),
    Column("no notes", lambda x: str(x["without_notes"])),
)

QUEUE_COLUMNS = (
    Column("offered", lambda q: str(q["offered"])),
    Column("answered", lambda q: str(q["answered"])),
    Column("abandoned", _abandoned),
    Column("exited", lambda q: str(q["exited"])),
    Column("customer calls", lambda q: str(q["customer_calls"]), wide_only=True),  # legs are offered
    Column("SL", lambda q: _pct(q["service_level"])),
    Column("ASA", lambda q: _secs(q["asa_seconds"])),
    Column("AHT", lambda q: _secs(q["aht_seconds"])),
    Column("cut-offs", lambda q: str(q["cut_offs"])),
    Column("callbacks", lambda q: str(q["callbacks"]), narrow_only=True),
    Column("callbacks by result", lambda q: _listed(q["callbacks_by_result"]), wide_only=True),
    Column("by routing", lambda q: _listed(q["callbacks_by_routing"]), wide_only=True),
    *_QUALITY,
    Column("credit", _credit, wide_only=True),  # a rep's figure, in agents
)

AGENT_COLUMNS = (
    Column("answered", lambda a: str(a["answered"])),
    Column("AHT", lambda a: _secs(a["aht_seconds"])),
    Column("cut-offs", lambda a: str(a["cut_offs"])),
    Column("short released", lambda a: str(a["agent_released_short"])),
    Column("callbacks", lambda a: f"{a['callbacks_taken']} ({a['callbacks_of_own_cut_offs']} own)"),
    *_QUALITY,
    Column("credit", _credit),
)

LEGEND = (
    "abandoned N +S: S more hung up within the short-abandon time (not in SL). "
    "repeat R/D +P: R repeat contacts among the D answered calls that ended a window before the "
    "period; P calls ended within the last window (pending, not counted). FCR: 1 - R/D, "
    "'pending N' or 'no data' while D is 0, never 0%. resolved: calls the rep marked resolved (not "
    "part of FCR). callbacks (N own): callbacks taken, N of them of the agent's own cut-off calls. "
    "credit * adjusted by a supervisor, ! disputed (different points posted for one sale)."
)
WIDE_HINT = (
    "--wide shows every column (7 d and 30 d windows, callbacks by result and routing, credit by queue)."
)

SEP = "  "
MIN_NAME = 12


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = SEP.join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    body = [SEP.join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def _fitted(
    title: str, named: dict[str, dict[str, Any]], columns: Sequence[Column], width: int | None
) -> str:
    """One table: every column when ``width`` is None, else the default columns within ``width``
    characters (long names shortened with "~", then columns dropped from the right)."""
    chosen = [c for c in columns if not (c.wide_only if width is not None else c.narrow_only)]
    cells = {c.header: [c.cell(stats) for stats in named.values()] for c in chosen}
    names = list(named)

    def total(cols: list[Column], name_width: int) -> int:
        sizes = [
            max(len(c.header), *(len(v) for v in cells[c.header])) if names else len(c.header) for c in cols
        ]
        return name_width + sum(sizes) + len(SEP) * len(cols)

    name_width = max([len(title), *(len(n) for n in names)])
    if width is not None:
        while total(chosen, name_width) > width and name_width > MIN_NAME:
            name_width -= 1
        dropped: list[str] = []
        while total(chosen, name_width) > width and len(chosen) > 1:
            dropped.insert(0, chosen.pop().header)
        names = [n if len(n) <= name_width else n[: name_width - 1] + "~" for n in names]
    else:
        dropped = []
    rows = [[name, *(cells[c.header][i] for c in chosen)] for i, name in enumerate(names)]
    table = _table([title, *(c.header for c in chosen)], rows)
    if dropped:
        table += f"\n(too wide for {width} columns: {', '.join(dropped)}; --wide shows them)"
    return table


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _by_name(agents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Reps by display name (their identity beside it when two share a name)."""
    names = [a["name"] or agent for agent, a in agents.items()]
    uses = Counter(names)  # not names.count: 2,000 reps would be 4 million comparisons
    return {
        (name if uses[name] == 1 else f"{name} ({agent})"): a
        for name, (agent, a) in zip(names, agents.items(), strict=True)
    }


def to_table(report: Report, *, wide: bool = False, width: int = 120) -> str:
    """The terminal report: within ``width`` columns with a legend, or with ``wide`` every column."""
    head = f"acd report {_when(report.since)} .. {_when(report.until)}"
    if report.unfilled:
        head += (
            f"\n{report.unfilled} queue entries of the period were recorded before customer calls were:"
            " run `acd db backfill` (until then each counts as a call of its own)"
        )
    if not report.queues and not report.agents:
        return f"{head}\n\nno calls in this period\n"
    limit = None if wide else width
    queues = _fitted("queue", report.queues, QUEUE_COLUMNS, limit)
    agents = _fitted("agent", _by_name(report.agents), AGENT_COLUMNS, limit)
    legend = LEGEND if wide else f"{LEGEND} {WIDE_HINT}"
    lines = textwrap.wrap(legend, width=width, initial_indent="legend: ", subsequent_indent="  ")
    body = f"{queues}\n\n{agents}\n\n"
    if report.servers:
        body = f"all servers ({', '.join(report.servers)})\n\n{body}"
        for name, one in report.servers.items():
            if not one.queues and not one.agents:
                body += f"server {name}: no calls in this period\n\n"
                continue
            body += f"server {name}\n\n"
            body += _fitted("queue", one.queues, QUEUE_COLUMNS, limit) + "\n\n"
            body += _fitted("agent", _by_name(one.agents), AGENT_COLUMNS, limit) + "\n\n"
    return f"{head}\n\n{body}" + "\n".join(lines) + "\n"
