"""The AMI classes acd needs, action by action and event class by event class, and every class
Asterisk knows. The one table of what acd asks of a manager user: ``acd check`` verifies a user
against it (acd/preflight/) and ``acd asterisk-config`` writes the manager user from it
(acd/asterisk_config.py). Keep it in step when a feature starts sending a new action.

Asterisk allows an action when the user holds any one of its classes (manager.c matches by any
shared bit; docs/asterisk.md), so :attr:`Need.recommended` is the narrowest class that allows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["KNOWN_CLASSES", "READ_NEEDS", "WRITE_NEEDS", "Need", "in_asterisk_order", "least_write_classes"]


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
        "acd check has Asterisk CURL() acd's routing lookup (func_curl loaded, acd reachable)",
        "reporting",
    ),
    Need(
        "monitoring",
        "CoreShowChannels",
        frozenset({"system", "reporting"}),
        "resync of the calls in progress",
        "reporting",
    ),
    Need("affinity", "QueueAdd", frozenset({"agent"}), "personal queues follow shared-queue logins", "agent"),
    Need(
        "affinity",
        "QueueRemove",
        frozenset({"agent"}),
        "personal queues follow shared-queue logouts",
        "agent",
    ),
    Need("affinity", "QueuePause", frozenset({"agent"}), "personal queues follow pauses", "agent"),
    Need(
        "affinity",
        "UserEvent",
        frozenset({"user"}),
        "AcdCallbackContext: the fallback agent is told who had the call",
        "user",
    ),
    Need(
        "affinity",
        "QueueWithdrawCaller",
        frozenset({"agent"}),
        "a held callback leaves its agent's queue on the first ring without answer",
        "agent",
    ),
)

# Read classes acd needs and what it loses without each.
READ_NEEDS: Mapping[str, str] = {
    "system": "FullyBooted/Shutdown: resync after every (re)connect and Asterisk restart",
    "agent": "queue and member events: calls offered, answered, abandoned; agent states; personal-queue legs",
    "call": "Hangup causes and bridges: who ended a call, cut-offs",
    "user": "UserEvents from the dialplan: AcdRouted (routing confirmed), CallOutcome (dispositions)",
}

# Every class Asterisk knows, in its own order (manager.c perms[], the order in which Asterisk
# writes a user's classes), to tell a class name from a synopsis word.
KNOWN_CLASSES: tuple[str, ...] = (
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
)


def in_asterisk_order(classes: Iterable[str]) -> list[str]:
    """``classes`` in the order Asterisk writes them (``manager show user``)."""
    wanted = set(classes)
    return [c for c in KNOWN_CLASSES if c in wanted]


def least_write_classes(features: Iterable[str]) -> list[str]:
    """The narrowest write classes that allow every action of ``features``, in table order."""
    wanted = set(features)
    return list(dict.fromkeys(n.recommended for n in WRITE_NEEDS if n.feature in wanted and n.recommended))
