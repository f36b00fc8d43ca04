"""``acd check``'s queue_log item: the file is there, acd can read it, and Asterisk writes it.

Asterisk writes ``queue_log`` unless told not to (``queue_log = no`` in logger.conf, or realtime
queue_log without ``queue_log_to_file = yes``), and it belongs to Asterisk's user and group (0640
under Debian's packages): acd reads it only as a member of that group (the shipped unit runs as
user ``acd`` with ``SupplementaryGroups=asterisk``). To see that it is the file Asterisk writes
*now*, the check asks Asterisk to append one line to it (AMI ``QueueLog``, write class ``agent``:
``<time>|NONE|NONE|NONE|ACDCHECK|<nonce>``, a line no queue report counts) and looks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from acd.preflight.results import CheckResult
from acd.settings import Settings

if TYPE_CHECKING:
    from acd.preflight.ami_verdicts import AmiObservation

__all__ = ["check_queue_log", "mark_queue_log"]

MARK_EVENT = "ACDCHECK"
TAIL_BYTES = 64 << 10
WAIT_SECONDS = 2.0


def _readable(path: Path) -> str | None:
    """None when acd can read ``path``, else why not."""
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except FileNotFoundError:
        return "no such file"
    except PermissionError:
        return "permission denied (acd must be in Asterisk's group; see README, Run it in production)"
    except OSError as err:
        return err.strerror or str(err)
    return None


async def mark_queue_log(
    action: Callable[[Mapping[str, str], float], Awaitable[dict[str, str]]],
    obs: AmiObservation,
    settings: Settings,
) -> None:
    """Ask Asterisk to append a marked line to queue_log (only when acd can read the file)."""
    path = settings.queue_log.path
    if not path or _readable(Path(path)) is not None:
        return
    nonce = uuid.uuid4().hex
    with contextlib.suppress(Exception):
        answer = await action(
            {
                "Action": "QueueLog",
                "Queue": "NONE",
                "Event": MARK_EVENT,
                "Interface": "NONE",
                "Message": nonce,
            },
            settings.ami.action_timeout,
        )
        if answer.get("Response") == "Success":
            obs.queue_log_marker = nonce


def _tail_has(path: Path, marker: str) -> bool:
    with path.open("rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - TAIL_BYTES))
        return marker.encode() in fh.read()


async def check_queue_log(settings: Settings, obs: AmiObservation) -> CheckResult:
    raw = settings.queue_log.path
    if not raw:
        return CheckResult(
            "queue_log", "OK", "off (ACD_QUEUE_LOG__PATH is empty): calls acd does not see are not recovered"
        )
    path = Path(raw)
    why = await asyncio.to_thread(_readable, path)
    if why is not None:
        return CheckResult("queue_log", "FAIL", f"{path}: {why}")
    marker = obs.queue_log_marker
    if marker is None:
        age = time.time() - path.stat().st_mtime
        return CheckResult(
            "queue_log",
            "WARN" if age > 86400 else "OK",
            f"{path} readable, last written {age / 3600:.1f} h ago (AMI could not append a test line, "
            "so whether Asterisk writes it now is unverified)",
        )
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if await asyncio.to_thread(_tail_has, path, marker):
            return CheckResult(
                "queue_log", "OK", f"{path} readable, and Asterisk writes it (a test line appeared)"
            )
        await asyncio.sleep(0.1)
    return CheckResult(
        "queue_log",
        "WARN",
        f"{path} readable, but the line Asterisk was asked to log did not appear in it: is it the file "
        "Asterisk writes (logger.conf queue_log, queue_log_to_file with realtime)?",
    )
