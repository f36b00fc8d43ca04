"""What ``/metrics`` shows, given the node's role: every series labelled with its server and role; a
standby shows only its health.

Several servers and HA pairs share one Prometheus: a server's series are told apart by ``server``
(``ACD_SERVER_ID``), and a pair's nodes by ``role``. The leader exports everything; a standby
exports only the families that say whether it is fit to take over (AMI, journal, database, event
pipeline, leadership, build), so a dashboard that sums call counters over servers counts each
server once, whichever node leads it. The labels are added at scrape time, in the worker thread
that renders the text, so nothing on the hot path changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

__all__ = ["HEALTH_PREFIXES", "KPI_PREFIXES", "Exposition", "is_health"]

# Families a standby exports (its health); everything else is the leader's alone.
HEALTH_PREFIXES = (
    "acd_ami_",
    "acd_build_info",
    "acd_db_",
    "acd_journal_",
    "acd_event_",
    "acd_handler_errors",
    "acd_leader",
    "acd_takeovers",
    "acd_stepdowns",
    "acd_fenced",
    "acd_stalls",
    "acd_leadership_",
    "acd_kpi_exporter",
    "acd_history_",
    "acd_metrics_label_overflow",
)


# Window KPIs from the database: each leader's for its server (scope="server"), and the center's
# from the one node holding the "kpi" lock (scope="center", no server label: they belong to none).
KPI_PREFIXES = ("acd_kpi_", "acd_agent_kpi_")


def is_health(name: str) -> bool:
    return name.startswith(HEALTH_PREFIXES)


class Exposition:
    """A registry view for ``generate_latest``: ``registry``'s families with ``server`` and
    ``role`` on every sample (a family's own label of either name wins), filtered by role.
    Families listed in ``unlabelled`` keep their own labels only (the center-wide KPIs, which
    belong to no server)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        server: str,
        role: Callable[[], str],
        unlabelled: Callable[[str], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.server = server
        self.role = role
        self.unlabelled = unlabelled
        # The center-wide window KPIs, while this node exports them (the holder of the "kpi"
        # lock): families named like this server's, merged into them with scope="center".
        self.center: Callable[[], Iterable[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        role = self.role()
        standby = role != "leader"
        extra = {"server": self.server, "role": role}
        unlabelled = self.unlabelled
        center = {f.name: f for f in self.center()} if self.center is not None and not standby else {}
        for family in self.registry.collect():
            if standby and not is_health(family.name):
                continue
            if unlabelled is not None and unlabelled(family.name):
                yield family
                continue
            scoped = family.name.startswith(KPI_PREFIXES)
            mine = {**extra, "scope": "server"} if scoped else extra
            samples = [
                Sample(s.name, {**mine, **s.labels}, s.value, s.timestamp, s.exemplar) for s in family.samples
            ]
            whole = center.get(family.name)
            if whole is not None:
                ours = {"role": role, "scope": "center"}
                samples += [
                    Sample(s.name, {**ours, **s.labels}, s.value, s.timestamp, s.exemplar)
                    for s in whole.samples
                ]
            family.samples = samples
            yield family
