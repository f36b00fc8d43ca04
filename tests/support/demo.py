"""``acd demo`` as a subprocess, read as a user reads it: the banner's pages, sign-ins and curl
line (for the demo's end-to-end test and the README's screenshot of the wallboard)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Banner", "demo_env", "read_banner", "start_demo"]

ACD = [sys.executable, "-m", "acd.cli"]
_SIGN_IN = re.compile(r"^\s{4}(\w+)(?: \((\d+)\))?\s+([A-Za-z0-9_-]{20,})\b")


@dataclass
class Banner:
    base: str = ""  # http://127.0.0.1:PORT
    tokens: dict[str, str] = field(default_factory=dict)  # supervisor, wallboard, and each rep by name
    reps: dict[str, str] = field(default_factory=dict)  # rep name -> agent interface
    curl: str = ""
    lines: list[str] = field(default_factory=list)


def demo_env() -> dict[str, str]:
    """The environment without the caller's ACD_* settings, and a free HTTP port (another demo
    may hold 8080 on a shared machine)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ACD_")}
    env["ACD_HTTP__PORT"] = "0"
    return env


async def start_demo(cwd: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *ACD,
        "demo",
        *args,
        cwd=cwd,
        env=demo_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_banner(stdout: asyncio.StreamReader, deadline: float) -> Banner:
    """Lines up to the banner's last one ("Ctrl-C stops the demo"), by ``deadline`` (monotonic)."""
    banner = Banner()
    while True:
        raw = await asyncio.wait_for(stdout.readline(), max(0.1, deadline - time.monotonic()))
        if not raw:
            raise AssertionError(f"acd demo ended before its banner: {banner.lines}")
        line = raw.decode().rstrip("\n")
        banner.lines.append(line)
        if m := re.search(r"(http://127\.0\.0\.1:\d+)/wallboard", line):
            banner.base = banner.base or m.group(1)
        if m := _SIGN_IN.match(line):
            banner.tokens[m.group(1)] = m.group(3)
            if m.group(2):
                banner.reps[m.group(1)] = f"Local/{m.group(2)}@agents"
        if line.strip().startswith("curl "):
            banner.curl = line.strip()
        if "Ctrl-C stops the demo" in line:
            return banner
