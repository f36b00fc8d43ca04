"""Generates acd's Grafana dashboards (grafana/dashboards/*.json) from one description in code.

Run: .venv/bin/python grafana/generate.py            (writes the JSON next to this file)
     .venv/bin/python grafana/generate.py --check    (exit 1 when the committed JSON is stale)

Why code: three dashboards share the same datasource and queue variables, panel styles and query
idioms; writing them once keeps them consistent, and a test regenerates them to catch a hand edit
that drifted. Every query reads a metric acd really exports (tests/test_grafana_dashboards.py feeds
sample effects to a Metrics and checks each metric and label a query names). No query pads an empty
result with ``or vector(0)``: an empty panel must look empty.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
Q = 'queue=~"$queue"'
# Window KPIs from the database: the center's (scope="center", exported by one daemon), never a
# server's too, so nothing is counted twice when several servers share the database.
KQ = Q + ',scope="center"'

# Callbacks that wait for their agent are rare: over a scrape-sized interval the quantile is mostly
# undefined (0/0), so the waits are pooled over the trailing hour.
AFFINITY_LE = f"sum by (le) (increase(acd_affinity_wait_seconds_bucket{{{Q}}}[1h]))"

Panel = dict[str, Any]


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping to new rows."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1
        self.panels: list[Panel] = []

    def add(self, panel: Panel, w: int, h: int) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append(
            {
                "id": self.next_id,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1},
                "panels": [],
            }
        )
        self.next_id += 1
        self.y += 1


def target(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False, table: bool = False
) -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend}
    if instant:
        t["instant"] = True
        t["range"] = False
    if table:
        t["format"] = "table"
    return t


def stat(
    title: str,
    expr: str,
    *,
    unit: str = "short",
    thresholds: list[tuple[float | None, str]] | None = None,
    description: str = "",
    decimals: int | None = None,
    size: int | None = None,
    no_value: str | None = None,
) -> Panel:
    steps = [{"value": v, "color": c} for v, c in (thresholds or [(None, "green")])]
    defaults: dict[str, Any] = {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}}
    if decimals is not None:
        defaults["decimals"] = decimals
    if no_value is not None:
        defaults["noValue"] = no_value
    options: dict[str, Any] = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "none",
        "textMode": "value",
        "justifyMode": "center",
        "orientation": "auto",
    }
    if size:
        options["text"] = {"valueSize": size, "titleSize": max(16, size // 4)}
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(expr, instant=True)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
    }


def timeseries(
    title: str,
    targets: list[tuple[str, str]],
    *,
    unit: str = "short",
    description: str = "",
    stack: bool = False,
    bars: bool = False,
) -> Panel:
    custom: dict[str, Any] = {"drawStyle": "bars" if bars else "line", "fillOpacity": 60 if bars else 10}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(e, legend, ref=chr(65 + i)) for i, (e, legend) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]}},
    }


def bargauge(
    title: str,
    expr: str,
    legend: str,
    *,
    unit: str = "short",
    description: str = "",
    no_value: str | None = None,
) -> Panel:
    defaults: dict[str, Any] = {"unit": unit, "min": 0}
    if no_value is not None:
        defaults["noValue"] = no_value
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(expr, legend, instant=True)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "displayMode": "basic",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
        },
    }


def piechart(title: str, expr: str, legend: str, *, description: str = "") -> Panel:
    return {
        "type": "piechart",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(expr, legend, instant=True)],
        "fieldConfig": {"defaults": {"unit": "short"}, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "legend": {"displayMode": "table", "placement": "right", "values": ["value", "percent"]},
            "pieType": "donut",
        },
    }


def table(title: str, columns: list[tuple[str, str, str]], *, key: str, description: str = "") -> Panel:
    """One instant query per column, joined on ``key`` (each query is ``sum by (key) (...)``)."""
    targets = [
        target(expr, name, ref=chr(65 + i), instant=True, table=True)
        for i, (name, expr, _) in enumerate(columns)
    ]
    rename = {f"Value #{chr(65 + i)}": name for i, (name, _, _) in enumerate(columns)}
    overrides = [
        {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "unit", "value": unit}]}
        for name, _, unit in columns
    ]
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": rename}},
        ],
        "fieldConfig": {"defaults": {"custom": {"align": "auto"}}, "overrides": overrides},
        "options": {"showHeader": True, "sortBy": [{"displayName": columns[0][0], "desc": True}]},
    }


def variables(extra: list[dict[str, Any]] | None = None, queue_filter: bool = True) -> dict[str, Any]:
    ds = {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {"text": "Prometheus (acd)", "value": "acd-prometheus"},
        "hide": 0,
    }
    queue = {
        "name": "queue",
        "label": "Queue",
        "type": "query",
        "datasource": DS,
        "query": {"query": "label_values(acd_calls_offered_total, queue)", "refId": "queue"},
        "definition": "label_values(acd_calls_offered_total, queue)",
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }
    return {"list": [ds, *([queue] if queue_filter else []), *(extra or [])]}


WINDOW_VAR = {
    "name": "window",
    "label": "Window",
    "type": "custom",
    "query": "24h,7d,30d",
    "options": [{"text": w, "value": w, "selected": w == "7d"} for w in ("24h", "7d", "30d")],
    "current": {"text": "7d", "value": "7d"},
    "description": "what the database panels cover: acd report over the last 24 h, 7 d or 30 d",
}


def dashboard(uid: str, title: str, description: str, layout: Layout, **kw: Any) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["acd"],
        "editable": True,
        "schemaVersion": 38,
        "version": 1,
        "graphTooltip": 1,
        "timezone": "browser",
        "time": kw.get("time", {"from": "now-24h", "to": "now"}),
        "refresh": kw.get("refresh", "1m"),
        "templating": variables(kw.get("extra_vars"), kw.get("queue_filter", True)),
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["acd"], "asDropdown": False, "title": "acd"}],
        "panels": layout.panels,
    }


def sl_expr(window: str) -> str:
    return (
        f"sum(increase(acd_calls_answered_in_sl_total{{{Q}}}[{window}]))"
        f" / (sum(increase(acd_calls_offered_total{{{Q}}}[{window}]))"
        f' - sum(increase(acd_calls_abandoned_total{{{Q},kind="short"}}[{window}])))'
    )


# acd exports no live numbers while it cannot see Asterisk (AMI down, resync pending): a dead PBX
# must not look busy. The live panels then say why they are empty.
LIVE_ABSENT = "PBX unreachable"


def wallboard() -> dict[str, Any]:
    """Now, big enough for a TV across the room: waiting, longest wait, agents, today's SL."""
    lay = Layout()
    big = 80
    lay.add(
        stat(
            "Callers waiting",
            f"sum(acd_queue_callers_waiting{{{Q}}})",
            thresholds=[(None, "green"), (3, "orange"), (8, "red")],
            size=big,
            no_value=LIVE_ABSENT,
            description="Callers in the selected queues now (personal affinity queues included "
            "in their shared queue).",
        ),
        6,
        8,
    )
    lay.add(
        stat(
            "Longest wait",
            f"max(acd_queue_longest_wait_seconds{{{Q}}})",
            unit="s",
            thresholds=[(None, "green"), (20, "orange"), (60, "red")],
            size=big,
            no_value=LIVE_ABSENT,
            decimals=0,
            description="Wait of the caller who has waited longest now.",
        ),
        6,
        8,
    )
    lay.add(
        stat(
            "Service level today",
            sl_expr("$__range"),
            unit="percentunit",
            decimals=0,
            thresholds=[(None, "red"), (0.7, "orange"), (0.8, "green")],
            size=big,
            description="Answered within the queue's threshold / (offered - short abandons), as in "
            "acd report, over the dashboard's range (today by default).",
        ),
        6,
        8,
    )
    lay.add(
        stat(
            "Abandoned today",
            f'sum(increase(acd_calls_abandoned_total{{{Q},kind="long"}}[$__range]))',
            thresholds=[(None, "green"), (10, "orange"), (30, "red")],
            size=big,
            decimals=0,
            description="Long abandons today (short ones, under the limit, are not counted).",
        ),
        6,
        8,
    )
    lay.add(
        stat(
            "Agents free",
            'sum(acd_agents{state="available"})',
            size=big,
            no_value=LIVE_ABSENT,
            thresholds=[(None, "red"), (1, "orange"), (3, "green")],
            description="Logged-in agents ready for a call (each agent counted once).",
        ),
        6,
        7,
    )
    lay.add(
        stat(
            "Agents busy",
            'sum(acd_agents{state=~"in_call|ringing"})',
            size=big,
            no_value=LIVE_ABSENT,
            thresholds=[(None, "blue")],
            description="Agents ringing or talking.",
        ),
        6,
        7,
    )
    lay.add(
        stat(
            "Agents in wrap-up",
            'sum(acd_agents{state="wrapup"})',
            size=big,
            no_value=LIVE_ABSENT,
            thresholds=[(None, "purple")],
            description="Agents finishing after a call.",
        ),
        6,
        7,
    )
    lay.add(
        stat(
            "Agents paused",
            'sum(acd_agents{state="paused"})',
            size=big,
            no_value=LIVE_ABSENT,
            thresholds=[(None, "yellow")],
            description="Agents on a pause (any reason).",
        ),
        6,
        7,
    )
    lay.add(
        bargauge(
            "Waiting by queue",
            f"sum by (queue) (acd_queue_callers_waiting{{{Q}}})",
            "{{queue}}",
            no_value=LIVE_ABSENT,
        ),
        8,
        9,
    )
    lay.add(
        bargauge(
            "Longest wait by queue",
            f"max by (queue) (acd_queue_longest_wait_seconds{{{Q}}})",
            "{{queue}}",
            unit="s",
            no_value=LIVE_ABSENT,
        ),
        8,
        9,
    )
    lay.add(
        bargauge(
            "Service level today by queue",
            f"sum by (queue) (increase(acd_calls_answered_in_sl_total{{{Q}}}[$__range]))"
            f" / (sum by (queue) (increase(acd_calls_offered_total{{{Q}}}[$__range]))"
            f' - sum by (queue) (increase(acd_calls_abandoned_total{{{Q},kind="short"}}[$__range])))',
            "{{queue}}",
            unit="percentunit",
        ),
        8,
        9,
    )
    lay.add(
        timeseries(
            "Calls today",
            [
                (f"sum(increase(acd_calls_answered_total{{{Q}}}[$__rate_interval]))", "answered"),
                (f"sum(increase(acd_calls_abandoned_total{{{Q}}}[$__rate_interval]))", "abandoned"),
                (f"sum(increase(acd_calls_exited_total{{{Q}}}[$__rate_interval]))", "exited"),
            ],
            stack=True,
            bars=True,
        ),
        24,
        8,
    )
    return dashboard(
        "acd-wallboard",
        "acd wallboard",
        "The call center now, for a TV: callers waiting, longest wait, agents, service level today.",
        lay,
        time={"from": "now/d", "to": "now"},
        refresh="10s",
    )


def quality() -> dict[str, Any]:
    """How well, not how many: repeat contacts, FCR, cut-offs, callbacks, notes."""
    lay = Layout()
    lay.row("Repeat contacts and first-contact resolution (from the database, per window)")
    lay.add(
        bargauge(
            "First-contact resolution",
            f"avg by (window) (acd_kpi_fcr_ratio{{{KQ}}})",
            "{{window}}",
            unit="percentunit",
            description="1 - repeat-contact ratio: answered calls with a known caller whose caller "
            "did not call again within the window (windows not yet closed are left out).",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Repeat-contact ratio by window",
            [(f"avg by (window) (acd_kpi_repeat_contact_ratio{{{KQ}}})", "{{window}}")],
            unit="percentunit",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Repeat calls (live, within the repeat window)",
            [
                (
                    f"sum(increase(acd_calls_repeat_total{{{Q}}}[$__rate_interval]))"
                    f" / sum(increase(acd_calls_offered_total{{{Q}}}[$__rate_interval]))",
                    "repeat share",
                ),
            ],
            unit="percentunit",
        ),
        8,
        8,
    )
    lay.row("Cut-offs")
    lay.add(
        piechart(
            "Cut-offs by cause class",
            f"sum by (cause_class) (increase(acd_cutoffs_total{{{Q}}}[$__range]))",
            "{{cause_class}}",
            description="Answered calls that ended abnormally, by Q.850 cause class; 'lost' means "
            "the channel was lost to an AMI gap or Asterisk restart.",
        ),
        8,
        8,
    )
    lay.add(
        piechart(
            "Cut-offs by side", f"sum by (side) (increase(acd_cutoffs_total{{{Q}}}[$__range]))", "{{side}}"
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Cut-off ratio",
            [
                (
                    f"sum(rate(acd_cutoffs_total{{{Q}}}[$__rate_interval]))"
                    f" / sum(rate(acd_calls_answered_total{{{Q}}}[$__rate_interval]))",
                    "live",
                ),
                (f'avg(acd_kpi_cutoff_ratio{{{KQ},window="24h"}})', "24h (database)"),
            ],
            unit="percentunit",
        ),
        8,
        8,
    )
    lay.row("Callbacks after a cut-off")
    lay.add(
        piechart(
            "Callbacks: who answered",
            f"sum by (result) (increase(acd_callback_results_total{{{Q}}}[$__range]))",
            "{{result}}",
            description="original_agent: the rep who had the call; other_agent: a fallback rep.",
        ),
        8,
        8,
    )
    lay.add(
        bargauge(
            "Routing decisions by reason",
            f"sum by (reason, mode) (increase(acd_affinity_decisions_total{{{Q}}}[$__range]))",
            "{{reason}} ({{mode}})",
            description="original_agent vs fallback_busy_timeout / fallback_unavailable / "
            "fallback_no_answer / no_history / ineligible; mode=shadow: what affinity would have done "
            "(decided and recorded, not acted on).",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Time waited for the preferred agent (p50, p90)",
            [
                (
                    "histogram_quantile(0.5, " + AFFINITY_LE + ")",
                    "p50",
                ),
                (
                    "histogram_quantile(0.9, " + AFFINITY_LE + ")",
                    "p90",
                ),
            ],
            unit="s",
        ),
        8,
        8,
    )
    lay.row("Notes, dispositions, credit")
    lay.add(
        bargauge(
            "Notes completeness (database)",
            f"avg by (window) (acd_kpi_notes_completeness_ratio{{{KQ}}})",
            "{{window}}",
            unit="percentunit",
            description="Answered calls whose outcome has notes / answered calls.",
        ),
        6,
        8,
    )
    lay.add(
        bargauge(
            "Marked resolved by the rep (database)",
            f"avg by (window) (acd_kpi_resolved_ratio{{{KQ}}})",
            "{{window}}",
            unit="percentunit",
            description="The rep's own word, shown beside FCR and never part of it: answered calls "
            "whose latest outcome says resolved / answered calls.",
        ),
        5,
        8,
    )
    lay.add(
        piechart(
            "Dispositions ($window)",
            f'sum by (disposition) (acd_kpi_dispositions{{{KQ},window=~"$window"}})',
            "{{disposition}}",
            description="Answered calls by their latest outcome's disposition; none: no outcome yet.",
        ),
        5,
        8,
    )
    lay.add(
        piechart(
            "Sale points by attribution ($window)",
            f'sum by (attribution) (acd_kpi_credit_points{{{KQ},window=~"$window"}})',
            "{{attribution}}",
            description="As acd report credits a sale (its callback chain): own_call, original (the rep "
            "of the first cut-off), closer, intermediate (on the record with 0); re-posts never add.",
        ),
        5,
        8,
    )
    lay.add(
        stat(
            "Disputed sales ($window)",
            f'sum(acd_kpi_credit_disputed_sales{{{KQ},window=~"$window"}})',
            thresholds=[(None, "green"), (1, "orange")],
            description="Sales with two different point values posted: on the review queue.",
        ),
        4,
        8,
    )
    lay.row("Short and agent-released calls")
    lay.add(
        timeseries(
            "Agent-released short calls",
            [
                (
                    f"sum(increase(acd_calls_agent_released_short_total{{{Q}}}[$__rate_interval]))",
                    "short, agent ended",
                ),
                (
                    f'sum(increase(acd_calls_ended_total{{{Q},ended_by="agent"}}[$__rate_interval]))',
                    "agent ended",
                ),
            ],
            bars=True,
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Service level by window (database)",
            [(f"avg by (window) (acd_kpi_service_level_ratio{{{KQ}}})", "{{window}}")],
            unit="percentunit",
        ),
        12,
        8,
    )
    return dashboard(
        "acd-quality",
        "acd quality",
        "Quality beside volume: repeat contacts, FCR, cut-offs, callbacks, notes and credit.",
        lay,
        time={"from": "now-7d", "to": "now"},
        extra_vars=[WINDOW_VAR],
    )


def agents() -> dict[str, Any]:
    """Each rep's volume beside their quality, so speed alone never looks like success."""
    lay = Layout()
    a = 'agent=~"$agent"'
    ka = a + ',scope="center"'  # per-agent window KPIs: the center's
    r = "[$__range]"
    lay.add(
        table(
            "Scorecard",
            [
                ("Answered", f"sum by (agent) (increase(acd_agent_calls_answered_total{{{a}}}{r}))", "short"),
                (
                    "Avg talk",
                    f"sum by (agent) (increase(acd_agent_talk_seconds_total{{{a}}}{r}))"
                    # "> 0": an agent with nothing answered in the range shows no value, not NaN
                    f" / (sum by (agent) (increase(acd_agent_calls_answered_total{{{a}}}{r})) > 0)",
                    "s",
                ),
                ("Cut-offs", f"sum by (agent) (increase(acd_agent_cutoffs_total{{{a}}}{r}))", "short"),
                (
                    "Short, agent-ended",
                    f"sum by (agent) (increase(acd_agent_released_short_calls_total{{{a}}}{r}))",
                    "short",
                ),
                (
                    "Notes written",
                    f'max by (agent) (acd_agent_kpi_notes_completeness_ratio{{{ka},window=~"$window"}})',
                    "percentunit",
                ),
                (
                    "Marked resolved",
                    f'max by (agent) (acd_agent_kpi_resolved_ratio{{{ka},window=~"$window"}})',
                    "percentunit",
                ),
                (
                    "Repeat contacts 7d",
                    f'max by (agent) (acd_agent_kpi_repeat_contact_ratio{{{ka},window="7d"}})',
                    "percentunit",
                ),
                ("FCR 24h", f'max by (agent) (acd_agent_kpi_fcr_ratio{{{ka},window="24h"}})', "percentunit"),
                (
                    "Credit",
                    f'sum by (agent) (acd_agent_kpi_credit_points{{{ka},window=~"$window"}})',
                    "short",
                ),
            ],
            key="agent",
            description="Per-agent series are opt-in (ACD_METRICS_PER_AGENT=true). Repeat contacts "
            "are charged to the agent of the first call. Notes, resolved and credit: acd report over "
            "the chosen window.",
        ),
        24,
        12,
    )
    lay.add(
        timeseries(
            "Answered per agent (top 10)",
            [
                (
                    "topk(10, sum by (agent) (increase(acd_agent_calls_answered_total{"
                    + a
                    + "}[$__rate_interval])))",
                    "{{agent}}",
                ),
            ],
            bars=True,
            stack=True,
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Cut-offs per agent",
            [
                (
                    f"sum by (agent, side) (increase(acd_agent_cutoffs_total{{{a}}}[$__rate_interval]))",
                    "{{agent}} ({{side}})",
                ),
            ],
            bars=True,
        ),
        12,
        8,
    )
    lay.add(
        bargauge(
            "Callbacks answered: by the original agent?",
            f"sum by (agent, original) (increase(acd_agent_callbacks_received_total{{{a}}}{r}))",
            "{{agent}} original={{original}}",
        ),
        12,
        8,
    )
    lay.add(
        bargauge(
            "Credit by attribution ($window)",
            f'sum by (agent, attribution) (acd_agent_kpi_credit_points{{{ka},window=~"$window"}})',
            "{{agent}} ({{attribution}})",
        ),
        12,
        8,
    )
    lay.add(
        table(
            "State now", [("Agents", f"sum by (agent, state) (acd_agent_state{{{a}}})", "short")], key="agent"
        ),
        24,
        8,
    )
    agent_var = {
        "name": "agent",
        "label": "Agent",
        "type": "query",
        "datasource": DS,
        "query": {"query": "label_values(acd_agent_calls_answered_total, agent)", "refId": "agent"},
        "definition": "label_values(acd_agent_calls_answered_total, agent)",
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }
    return dashboard(
        "acd-agents",
        "acd agent scorecard",
        "Each rep's volume beside quality: cut-offs, notes, repeat contacts charged to them, credit.",
        lay,
        time={"from": "now-7d", "to": "now"},
        extra_vars=[agent_var, WINDOW_VAR],
        queue_filter=False,
    )


DASHBOARDS = {"wallboard": wallboard, "quality": quality, "agents": agents}


def render() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(build(), indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main() -> int:
    ap = argparse.ArgumentParser(description="Generate acd's Grafana dashboards")
    ap.add_argument("--check", action="store_true", help="fail when the committed JSON differs")
    args = ap.parse_args()
    stale = []
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale dashboards (run grafana/generate.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
