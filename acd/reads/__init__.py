"""The reads every view of the records shares: the report, the API, the window KPIs on /metrics and
the pages call these functions, so a number means the same wherever it is shown.

* :mod:`acd.reads.summary`: per-queue and per-agent figures over periods (``acd report``, the
  agent summary, the KPI gauges); its pieces are the ``summary_*`` modules, and the per-bucket
  sums it reads where current are the ``rollup*`` modules (:mod:`acd.reads.rollups` says why).
* :mod:`acd.reads.calls`: one customer call, a list of them, a caller's history, a call's chain
  (who had it before, how it ended, notes, open order, credit, what became of it).
* :mod:`acd.reads.review`: the calls worth a supervisor's look, with their reasons.
* :mod:`acd.reads.rep_calls`: the calls behind a rep's figures (cut-offs, credit, callbacks).

Every read takes the server id, so several servers may share one database.
"""
