"""Which AMI actions and event classes acd needs, feature by feature, and how Asterisk says what a
manager user may do. :data:`WRITE_NEEDS` is the one table of the actions each feature sends: keep it
in step when a feature starts sending a new action, and deploy/asterisk's manager.conf with it.
Asterisk matches a class by any shared bit (docs/asterisk.md): an action listed with several
classes is allowed by any one of them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from acd.settings import Settings

__all__ = [
    "KNOWN_CLASSES",
    "READ_NEEDS",
    "WRITE_NEEDS",
    "Need",
    "enabled_features",
    "event_classes",
    "granted_write_classes",
    "parse_list_commands",
]


@dataclass(frozen=True, slots=True)
class Need:
    """An AMI action a feature sends, and the classes Asterisk accepts for it (any one suffices)."""

    feature: str
    action: str
    classes: frozenset[str]  # empty: Asterisk allows it to every logged-in user
    why: str
    recommended: str  # the narrowest class to grant for it ("" when none is needed)


WRITE_NEEDS: tuple[Need, ...] = (
    Need("monitoring", "Ping", frozenset(), "keep-alive that detects a silent Asterisk", ""),
    Need("monitoring", "QueueStatus", frozenset(), "resync of queues and members", ""),
    Need(
        "monitoring",
        "Getvar",
        frozenset({"call", "reporting"}),
        "acd check: Asterisk's CURL() reaches acd's routing lookup",
        "reporting",
    ),
    Need(
        "monitoring",
        "CoreShowChannels",
        frozenset({"system", "reporting"}),
        "resync of the calls in progress",
        "reporting",
    ),
    Need("affinity", "QueueAdd", frozenset({"agent"}), "keep personal queues in step with logins", "agent"),
    Need("affinity", "QueueRemove", frozenset({"agent"}), "keep personal queues in step", "agent"),
    Need("affinity", "QueuePause", frozenset({"agent"}), "keep personal queues in step with pauses", "agent"),
    Need("affinity", "UserEvent", frozenset({"user"}), "tell the fallback agent who had the call", "user"),
    Need(
        "affinity",
        "QueueWithdrawCaller",
        frozenset({"agent"}),
        "one ring of the original agent, then the shared queue",
        "agent",
    ),
)

# Read classes acd needs and what it loses without each.
READ_NEEDS: Mapping[str, str] = {
    "system": "FullyBooted/Shutdown: resync after every (re)connect and Asterisk restart",
    "agent": "queue and member events: offered, answered, abandoned, agent states",
    "call": "Hangup causes and bridges: who ended a call, cut-offs",
    "user": "UserEvents from the dialplan (AcdRouted confirms a routing answer, CallOutcome)",
}

# Every class Asterisk knows (manager.c perms[]), to tell a class name from a synopsis word.
KNOWN_CLASSES = frozenset(
    {
        "system",
        "call",
        "log",
        "verbose",
        "command",
        "agent",
        "user",
        "config",
        "dtmf",
        "reporting",
        "cdr",
        "dialplan",
        "originate",
        "agi",
        "cc",
        "aoc",
        "test",
        "security",
        "message",
    }
)

_PRIV = re.compile(r"\(Priv:\s*([^)]*)\)\s*$")


def enabled_features(settings: Settings) -> list[str]:
    """Features whose AMI actions must be allowed: monitoring always, affinity when any queue has it."""
    features = ["monitoring"]
    affinity = settings.queue_defaults.affinity or any(
        settings.queue(name).affinity for name in settings.queues
    )
    if affinity:
        features.append("affinity")
    return features


def parse_list_commands(response: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """``ListCommands`` answer -> {action (lower case): its classes}; ``<none>`` gives an empty set.

    Asterisk writes one ``Action: synopsis (Priv: class,class,all)`` header per action the user may
    send; ``all`` is a mask, not a class, and is dropped.
    """
    allowed: dict[str, frozenset[str]] = {}
    for key, value in response.items():
        match = _PRIV.search(value)
        if match is None or key in ("Response", "ActionID", "Message"):
            continue
        classes = frozenset(
            c.strip().lower() for c in match.group(1).split(",") if c.strip().lower() in KNOWN_CLASSES
        )
        allowed[key.lower()] = classes
    return allowed


def granted_write_classes(allowed: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """Classes certainly granted: those of listed actions that need exactly one class."""
    return frozenset(next(iter(c)) for c in allowed.values() if len(c) == 1)


def event_classes(event: Mapping[str, str]) -> frozenset[str]:
    """The classes an event was broadcast under (its ``Privilege`` header, ``all`` dropped)."""
    privilege = event.get("Privilege", "")
    return frozenset(c for c in privilege.split(",") if c and c != "all")
