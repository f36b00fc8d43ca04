"""Daemon health that is counted on the hot path and exported at scrape time.

AMI events arrive at tens of thousands per second; a prometheus_client ``Counter`` child costs a lock
and a float add per event. Here each event costs one dict increment, and the counts are turned into
metric families only when Prometheus scrapes. Event names are bounded: the names acd knows (those in
the captures and those the core handles) and ``other``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from acd.metrics.labels import OTHER, LabelCap

__all__ = ["KNOWN_AMI_EVENTS", "HealthCollector"]

# Event names seen in the Asterisk 22 captures plus the queue/agent family the core reads.
KNOWN_AMI_EVENTS: frozenset[str] = frozenset(
    {
        "AgentCalled",
        "AgentComplete",
        "AgentConnect",
        "AgentDump",
        "AgentRingNoAnswer",
        "AsyncAGIEnd",
        "AsyncAGIExec",
        "AsyncAGIStart",
        "AGIExecEnd",
        "AGIExecStart",
        "AttendedTransfer",
        "BlindTransfer",
        "BridgeCreate",
        "BridgeDestroy",
        "BridgeEnter",
        "BridgeLeave",
        "Cdr",
        "Cel",
        "CoreShowChannel",
        "CoreShowChannelsComplete",
        "DeviceStateChange",
        "DialBegin",
        "DialEnd",
        "DialState",
        "ExtensionStatus",
        "FullyBooted",
        "Hangup",
        "HangupHandlerPop",
        "HangupHandlerPush",
        "HangupHandlerRun",
        "HangupRequest",
        "Hold",
        "LocalBridge",
        "LocalOptimizationBegin",
        "LocalOptimizationEnd",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "NewAccountCode",
        "NewCallerid",
        "NewConnectedLine",
        "NewExten",
        "Newchannel",
        "Newexten",
        "Newstate",
        "OriginateResponse",
        "PeerStatus",
        "QueueCallerAbandon",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueEntry",
        "QueueMember",
        "QueueMemberAdded",
        "QueueMemberPause",
        "QueueMemberPenalty",
        "QueueMemberRemoved",
        "QueueMemberRinginuse",
        "QueueMemberStatus",
        "QueueParams",
        "QueueStatusComplete",
        "QueueSummary",
        "QueueSummaryComplete",
        "Registry",
        "Reload",
        "RTCPReceived",
        "RTCPSent",
        "Shutdown",
        "SoftHangupRequest",
        "SuccessfulAuth",
        "Unhold",
        "UserEvent",
        "VarSet",
        "RequestNotAllowed",
        "DTMFEnd",
        "DTMFBegin",
        "RequestBadFormat",
        "DBGetTreeResponse",
        "DBGetTreeComplete",
        "DBGetResponse",
        "DBGetComplete",
        "InvalidPassword",
        "BridgeMerge",
        "ChallengeSent",
        "FailedACL",
    }
)


class HealthCollector(Collector):
    """Exports event counts, handler errors, the write backlog and label-cap overflow at scrape time."""

    def __init__(
        self,
        caps: dict[str, LabelCap],
        db_backlog: Callable[[], int] | None = None,
        known_events: Iterable[str] = KNOWN_AMI_EVENTS,
    ) -> None:
        self.events: dict[str, int] = dict.fromkeys(known_events, 0)
        self.events[OTHER] = 0
        self.handler_errors: dict[str, int] = {}
        self._handler_cap = LabelCap(50)
        self._caps = caps
        self.db_backlog = db_backlog
        self.backlog_errors = 0

    def count_event(self, name: str, n: int = 1) -> None:
        events = self.events
        if name in events:
            events[name] += n
        else:
            events[OTHER] += n

    def handler_error(self, handler: str) -> None:
        label = self._handler_cap(handler)
        self.handler_errors[label] = self.handler_errors.get(label, 0) + 1

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "acd_ami_events", "AMI events received, by event name (unknown names: other)", labels=["event"]
        )
        for name, count in list(self.events.items()):
            if count:
                events.add_metric([name], count)
        yield events

        errors = CounterMetricFamily(
            "acd_handler_errors", "Exceptions caught in event and effect handlers", labels=["handler"]
        )
        for name, count in list(self.handler_errors.items()):
            errors.add_metric([name], count)
        yield errors

        overflow = CounterMetricFamily(
            "acd_metrics_label_overflow",
            "Label values folded into 'other' because a label reached its cap",
            labels=["label"],
        )
        for label, cap in list(self._caps.items()):
            overflow.add_metric([label], cap.overflowed)
        yield overflow

        if self.db_backlog is not None:
            try:
                backlog = float(self.db_backlog())
            except Exception:  # a broken callable must not break the whole scrape
                self.backlog_errors += 1
            else:
                yield GaugeMetricFamily(
                    "acd_db_backlog_records",
                    "Records waiting to be written to the database (memory queue plus spool)",
                    value=backlog,
                )
