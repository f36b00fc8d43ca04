"""Random secrets: acd has no built-in AMI secret, so every test that starts a simulator and a
daemon makes one and hands it to both (as ``acd demo`` does).

:func:`login` is a manager user for that pair, under its own name: the simulator's manager.conf
keeps the users its captures were recorded with (``acd``), which the simulator tests log in as.
"""

from __future__ import annotations

import secrets

__all__ = ["AMI_SECRET", "AMI_USER", "login", "random_secret"]


def random_secret() -> str:
    """A fresh secret, safe in a manager.conf line, an environment variable and a command line
    (never starting with "-", which argparse would take for an option: one session in 64 failed
    every test that passes ``--secret`` so)."""
    while (secret := secrets.token_urlsafe(18)).startswith("-"):
        pass
    return secret


# One per test session, for helpers that build a simulator and a daemon in separate places.
AMI_USER = "acd-tests"
AMI_SECRET = random_secret()


def login() -> dict[str, str]:
    """``username``/``secret`` for both ``SimConfig(**login())`` (an extra manager user with every
    class) and the daemon's ``ami`` settings."""
    return {"username": AMI_USER, "secret": AMI_SECRET}
