"""Simulator configuration: the traffic knobs, plus the manager.conf users and queues.conf queues.

Everything the simulator runs is decided here, before any socket opens, so bad input fails with
one clear line (the file and line of the problem) and nothing half-started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from acd.ami.classes import KNOWN_CLASSES
from acd.sim.conf_parser import ConfError, Section, read_conf

HERE = Path(__file__).parent
DEFAULT_MANAGER_CONF = HERE / "manager.conf"
DEFAULT_QUEUES_CONF = HERE / "queues.conf"

# manager.conf class names, in Asterisk's own order: the one table acd keeps of them.
CLASSES = KNOWN_CLASSES


def parse_classes(text: str, where: str) -> frozenset[str]:
    out: set[str] = set()
    for item in (s.strip().lower() for s in text.split(",")):
        if not item or item == "none":
            continue
        if item == "all":
            out.update(CLASSES)
        elif item in CLASSES:
            out.add(item)
        else:
            raise ConfError(f"{where}: unknown class {item!r}")
    return frozenset(out)


@dataclass(frozen=True)
class User:
    name: str
    secret: str = field(repr=False)
    read: frozenset[str]
    write: frozenset[str]
    writetimeout_ms: int = 100


@dataclass(frozen=True)
class ManagerConf:
    users: dict[str, User]
    timestampevents: bool = False


def load_manager_conf(path: str | Path = DEFAULT_MANAGER_CONF) -> ManagerConf:
    users: dict[str, User] = {}
    tse = False
    for sec in read_conf(path):
        if sec.template:
            continue
        if sec.name == "general":
            tse = _bool(sec.get("timestampevents", "no") or "no")
            continue
        secret = sec.get("secret")
        if secret is None:
            raise ConfError(f"{path}: user [{sec.name}] has no secret")
        where = f"{path} [{sec.name}]"
        users[sec.name] = User(
            sec.name,
            secret,
            parse_classes(sec.get("read", "") or "", where),
            parse_classes(sec.get("write", "") or "", where),
            int(sec.get("writetimeout", "100") or "100"),
        )
    return ManagerConf(users, tse)


STRATEGIES = ("ringall", "rrmemory", "rrordered", "leastrecent", "fewestcalls", "random", "linear")


@dataclass
class QueueConf:
    """The queues.conf settings the simulator honours (others are accepted and ignored)."""

    name: str
    strategy: str = "ringall"
    weight: int = 0
    timeout: int = 15
    retry: int = 5
    wrapuptime: int = 0
    ringinuse: bool = True
    joinempty: str = "yes"
    leavewhenempty: str = "no"
    servicelevel: int = 0
    maxlen: int = 0
    members: list[tuple[str, str, int, str]] = field(default_factory=list)  # iface, name, penalty, stateif


@dataclass
class QueuesConf:
    queues: dict[str, QueueConf]
    shared_lastcall: bool = True


def _bool(v: str) -> bool:
    return v.strip().lower() in ("yes", "true", "y", "t", "1", "on")


def _queue(sec: Section, general_shared: bool, path: str) -> QueueConf:
    q = QueueConf(sec.name)
    for key, value in sec.items:
        where = f"{path} [{sec.name}] {key}"
        try:
            if key == "strategy":
                if value not in STRATEGIES:
                    raise ConfError(
                        f"{where}: strategy {value!r} not supported (one of {', '.join(STRATEGIES)})"
                    )
                q.strategy = value
            elif key in ("weight", "timeout", "retry", "wrapuptime", "servicelevel", "maxlen"):
                setattr(q, key, int(value))
            elif key == "ringinuse":
                q.ringinuse = _bool(value)
            elif key in ("joinempty", "leavewhenempty"):
                setattr(q, key, value.lower())
            elif key == "member":
                parts = [p.strip() for p in value.split(",")]
                iface = parts[0]
                penalty = int(parts[1]) if len(parts) > 1 and parts[1] else 0
                mname = parts[2] if len(parts) > 2 and parts[2] else iface
                stateif = parts[3] if len(parts) > 3 and parts[3] else iface
                q.members.append((iface, mname, penalty, stateif))
        except ValueError as err:
            raise ConfError(f"{where}: bad value {value!r}") from err
    return q


def load_queues_conf(path: str | Path = DEFAULT_QUEUES_CONF) -> QueuesConf:
    queues: dict[str, QueueConf] = {}
    shared = False
    for sec in read_conf(path):
        if sec.name == "general":
            shared = _bool(sec.get("shared_lastcall", "no") or "no")
            continue
        if sec.template:
            continue
        queues[sec.name] = _queue(sec, shared, str(path))
    return QueuesConf(queues, shared)


@dataclass
class SimConfig:
    """Everything `acd sim` and the Python API accept. Defaults give a small live call center."""

    host: str = "127.0.0.1"
    port: int = 5038
    manager_conf: Path | None = None
    queues_conf: Path | None = None
    dialplan: Path | None = None  # extensions.conf to run each caller through (default: built-in)
    dialplan_context: str = "inbound"  # where simulated callers enter it (exten = their number)
    username: str | None = None  # extra user (--username/--secret) with read=all write=all
    secret: str | None = field(default=None, repr=False)
    seed: int | None = None
    speed: float = 1.0  # simulated seconds per wall second; float('inf') = as fast as clients read
    truth: Path | None = None
    queue_log: Path | None = None  # write Asterisk's queue_log here (as app_queue does)
    action_log: Path | None = None  # every action a client sends: JSON lines (wall time, user, action)
    agents: int = 6
    queues: list[str] | None = None  # which queues get agents and traffic (default: all)
    rate_per_min: float = 2.0  # Poisson arrivals over all queues; 0 = no traffic
    cutoff_share: float = 0.08
    transfer_share: float = 0.05  # of the answered calls not cut off: ended by a transfer
    callback_share: float = 0.6
    repeat_share: float = 0.1
    max_calls: int | None = None
    duration: float | None = None  # simulated seconds of traffic
    start_epoch: float | None = None  # simulated clock start (default: wall time at start)
    traffic: bool = True  # False: no arrivals and no agents; drive it with the scenario API
    patience_mean: float = 90.0
    talk_mean: float = 120.0
    pause_share: float = 0.05  # chance an agent takes a short break after a call
    slow_agent_share: float = 0.1  # agents slow to answer (8-14 s: a ring sometimes times out)
    callback_delay_mean: float | None = None  # cut-off callers redial after ~this (None: 1-26 min)
    # Callers placed once the traffic starts: (seconds after its start, number); the customers an
    # earlier run left waiting to call back (Traffic.calling_back)
    callers: list[tuple[float, str]] = field(default_factory=list)
    timestampevents: bool | None = None  # None: manager.conf's, forced on when speed != 1
    # asterisk.conf's systemname: Uniqueids and Linkedids become "<systemname>-<epoch>.<n>", so the
    # calls of several servers sharing one database never share an id.
    systemname: str = ""
    action_latency: float = 0.0  # simulated seconds an action takes (races with ringing become real)
    hold_until_login: bool = False  # start agents and traffic when the first client logs in
    hold_traffic: bool = False  # start traffic only when Simulator.start_traffic() is called
    boot_seconds: float = 0.2  # after a restart, FullyBooted comes this long after the listener opens
    # Faults played at set simulated times: (kind, seconds after traffic starts, argument), kinds as
    # Simulator.schedule_fault (drop, drop-mid, silent, unsilent, malformed, restart).
    faults: list[tuple[str, float, float]] = field(default_factory=list)
