"""What a manager user is granted, as Asterisk shows it: ``ListCommands`` lists the actions the
user's write classes allow, each event names the classes it was broadcast under. Which of them acd
needs is the table in :mod:`acd.ami.classes`."""

from __future__ import annotations

import re
from collections.abc import Mapping

from acd.ami.classes import KNOWN_CLASSES
from acd.settings import Settings

__all__ = [
    "enabled_features",
    "event_classes",
    "granted_write_classes",
    "parse_list_commands",
]


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
