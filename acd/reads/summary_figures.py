"""The sums one queue or one agent gathers over a period, and the figures every reader shows from
them: counts, service level, ASA, AHT, the rates beside the counts, repeat contacts and FCR per
window, credit. The report, the API, the pages and the window KPIs all take their numbers from
:func:`figures`, so a ratio is computed once, in one way, with "no data" (None) over an empty base
and never 0 %. What each sum counts is in acd/reads/summary_sql.py; the definitions in
acd/reads/summary.py.
"""

from __future__ import annotations

from typing import Any

from acd.core.definitions import WINDOWS
from acd.reads.summary_sql import CALL_SUMS, LEG_SUMS

__all__ = ["empty_sums", "figures"]


def empty_sums() -> dict[str, Any]:
    """What a queue or agent starts a period with: every sum at zero, no breakdowns yet."""
    return {
        **{name: 0 for name in LEG_SUMS},
        **{name: 0 for name in CALL_SUMS},
        "callbacks_by_result": {},
        "callbacks_by_routing": {},
        "dispositions": {},
        "repeats": {w: [0, 0, 0] for w in WINDOWS},  # repeats, decided, pending
        "credit": {},
        "credit_adjusted": 0,
        "credit_disputed": 0,
        "name": None,
    }


def ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def figures(stats: dict[str, Any], wrapup: float | None) -> dict[str, Any]:
    """Raw sums -> the figures readers show (the same for the report, the API and the gauges)."""
    out: dict[str, Any] = {}
    if wrapup is not None:  # a queue
        out.update(
            offered=int(stats["offered"]),
            answered=int(stats["answered"]),
            abandoned=int(stats["abandoned"]),
            abandoned_short=int(stats["abandoned_short"]),
            exited=int(stats["exited"]),
            wait_unknown=int(stats["wait_unknown"]),
            service_level=ratio(stats["answered_in_sl"], stats["wait_known"] - stats["abandoned_short"]),
        )
    else:
        out.update(name=stats["name"], answered=int(stats["answered"]))
    mean_talk = ratio(stats["talk_seconds"], stats["answered"])
    out.update(
        talk_seconds=float(stats["talk_seconds"]),
        asa_seconds=ratio(stats["wait_sum"], stats["wait_n"]),
        aht_seconds=None if mean_talk is None else mean_talk + (wrapup or 0.0),
        cut_offs=int(stats["cut_offs"]),
        agent_released_short=int(stats["agent_released_short"]),
        customer_calls=int(stats["customer_calls"]),
        answered_calls=int(stats["answered_calls"]),
        without_notes=int(stats["without_notes"]),
        trivial_notes=int(stats["trivial_notes"]),
        resolved=int(stats["resolved"]),
        dispositions=dict(sorted(stats["dispositions"].items())),
        callbacks=int(stats["callbacks"]),
        callbacks_taken=int(stats["callbacks_taken"]),
        callbacks_of_own_cut_offs=int(stats["callbacks_of_own_cut_offs"]),
        callbacks_by_result=dict(sorted(stats["callbacks_by_result"].items())),
        callbacks_by_routing=dict(sorted(stats["callbacks_by_routing"].items())),
    )
    # The rates every reader shows beside the counts ("no data", None, over an empty base).
    out.update(
        cut_off_rate=ratio(stats["cut_offs"], stats["answered"]),
        agent_released_short_rate=ratio(stats["agent_released_short"], stats["answered"]),
        notes_complete=ratio(stats["answered_calls"] - stats["without_notes"], stats["answered_calls"]),
        resolved_rate=ratio(stats["resolved"], stats["answered_calls"]),
    )
    repeat_contacts: dict[str, dict[str, Any]] = {}
    fcr: dict[str, float | None] = {}
    for window, (repeats, decided, pending) in stats["repeats"].items():
        rate = ratio(repeats, decided)
        repeat_contacts[window] = {"repeats": repeats, "decided": decided, "pending": pending, "rate": rate}
        fcr[window] = None if rate is None else 1.0 - rate
    credit = {k: round(v, 6) for k, v in sorted(stats["credit"].items())}
    out.update(
        repeat_contacts=repeat_contacts,
        fcr=fcr,
        credit_points=round(sum(credit.values()), 6),
        credit=credit,
        credit_adjusted=int(stats["credit_adjusted"]),
        credit_disputed=int(stats["credit_disputed"]),
    )
    return out
