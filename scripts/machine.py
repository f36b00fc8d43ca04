#!/usr/bin/env python3
"""Leave the machine as the test command found it. Standard library only: it runs before the
test virtualenv exists.

  machine.py apt-install PKG...   install Debian packages without starting their services, then
                                  disable again every unit or init script the install enabled
  machine.py snapshot FILE        record what is enabled and running now, and print the run's
                                  mark: run the tests with TEST_RUN_MARK set to it
  machine.py check FILE           exit 1, naming them, if services are enabled or running now that
                                  were not in FILE (where systemd runs), or if processes of the run
                                  (their environment holds its mark) are still running

Why each step:
- Debian's postinst starts a service through ``invoke-rc.d``/``deb-systemd-invoke``, which ask
  ``/usr/sbin/policy-rc.d`` first: exit 101 means "do not start". The file is put in place for the
  install only (an operator's own policy-rc.d is set aside and put back byte for byte).
- The postinst also enables the unit at boot (``deb-systemd-helper enable``, ``update-rc.d
  defaults``) whatever policy-rc.d says, so what is enabled before is recorded and anything the
  install enabled is disabled afterwards. Nothing is ever stopped or killed by name: a Prometheus
  or PostgreSQL the machine already ran is its owner's.
- "Left running" is judged by the run's mark, not by name or ancestry: the test command runs with
  ``TEST_RUN_MARK=<a token the snapshot made>`` in its environment, every process it starts
  inherits it (a server started as another user or detached from its parent too; the tests strip
  ``ACD_*`` variables from the environments they hand on, so the mark is not one), and whatever
  still runs with that token after the run is a leftover. On a machine shared with other people,
  their test servers and the caller's own shell jobs, started meanwhile or orphaned, carry no such
  token and are never counted; names are how the leftovers are reported. A process started with
  an environment of its own making (``env -i``) carries no mark: the tests hand theirs on.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

POLICY_RC_D = "usr/sbin/policy-rc.d"
DENY_STARTS = (
    b"#!/bin/sh\n# written by acd's scripts/machine.py for the duration of a package install\nexit 101\n"
)
RUNLEVELS = ("2", "3", "4", "5")
MARK = "TEST_RUN_MARK"  # the environment variable the test command runs with (not ACD_*: see above)

Run = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)


# --- policy-rc.d -----------------------------------------------------------------------------


@contextlib.contextmanager
def starts_denied(root: Path = Path("/")) -> Iterator[None]:
    """``policy-rc.d`` answering 101 (action forbidden) while the block runs; afterwards the machine
    has exactly the policy-rc.d it had (content and mode), or none."""
    path = root / POLICY_RC_D
    before: tuple[bytes, int] | None = None
    if path.is_file() or path.is_symlink():
        before = (path.read_bytes(), path.stat().st_mode & 0o7777)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".acd-tmp")
    tmp.write_bytes(DENY_STARTS)
    tmp.chmod(0o755)
    os.replace(tmp, path)
    try:
        yield
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            tmp.write_bytes(before[0])
            tmp.chmod(before[1])
            os.replace(tmp, path)


# --- what is enabled ---------------------------------------------------------------------------


def enabled_units(runner: Run = run) -> set[str] | None:
    """Unit files enabled at boot, from systemctl (it reads them without a running systemd);
    None when there is no systemctl."""
    try:
        done = runner(["systemctl", "list-unit-files", "--state=enabled", "--no-legend", "--no-pager"])
    except FileNotFoundError:
        return None
    if done.returncode not in (0, 1):  # 1: nothing matched
        return None
    return {line.split()[0] for line in done.stdout.splitlines() if line.strip()}


def sysv_enabled(root: Path = Path("/")) -> set[str]:
    """Init scripts started in a multi-user runlevel: ``/etc/rcN.d/S??name`` links."""
    found = set()
    for level in RUNLEVELS:
        directory = root / "etc" / f"rc{level}.d"
        if directory.is_dir():
            for link in directory.iterdir():
                if link.name.startswith("S") and len(link.name) > 3:
                    found.add(link.name[3:])
    return found


@dataclass(frozen=True)
class Enabled:
    units: frozenset[str] | None  # None: no systemctl on this machine
    sysv: frozenset[str]

    @classmethod
    def now(cls, runner: Run = run, root: Path = Path("/")) -> Enabled:
        units = enabled_units(runner)
        return cls(None if units is None else frozenset(units), frozenset(sysv_enabled(root)))


def disable_commands(before: Enabled, after: Enabled) -> list[list[str]]:
    """The commands that put back what was enabled: ``systemctl disable`` for units (it also
    disables a unit's init script) and ``update-rc.d NAME disable`` for init scripts alone."""
    commands: list[list[str]] = []
    handled: set[str] = set()
    if after.units is not None:
        new_units = sorted(after.units - (before.units or frozenset()))
        if new_units:
            commands.append(["systemctl", "disable", "--no-reload", *new_units])
        handled = {u.removesuffix(".service") for u in new_units}
    for name in sorted(after.sysv - before.sysv - handled):
        commands.append(["update-rc.d", name, "disable"])
    return commands


def apt_install(packages: Sequence[str], runner: Run = run, root: Path = Path("/")) -> int:
    """Install with starts denied; re-disable what the install enabled. Returns apt's exit code."""
    before = Enabled.now(runner, root)
    os.environ["DEBIAN_FRONTEND"] = "noninteractive"
    code = 0
    with starts_denied(root):
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        ):
            done = runner(cmd)
            if done.returncode != 0:
                sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
                code = done.returncode
                break
    for cmd in disable_commands(before, Enabled.now(runner, root)):
        done = runner(cmd)
        print(f"machine: {' '.join(cmd)} (the install enabled it)", file=sys.stderr)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            code = code or done.returncode
    return code


# --- processes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    name: str
    start: int  # clock ticks after boot (/proc/PID/stat field 22)
    mark: str | None = None  # its TEST_RUN_MARK, when read


def environ_mark(pid: int, proc: Path = Path("/proc")) -> str | None:
    """The process's TEST_RUN_MARK as it was started (None: none, or it is gone or a zombie)."""
    try:
        raw = (proc / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = MARK.encode() + b"="
    for item in raw.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def read_processes(proc: Path = Path("/proc"), *, marks: bool = False) -> dict[int, Proc]:
    """Every process now (``marks``: with the TEST_RUN_MARK each was started with)."""
    found: dict[int, Proc] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ')'.
        head, _, rest = stat.rpartition(")")
        name = head.partition("(")[2]
        fields = rest.split()
        pid = int(entry.name)
        mark = environ_mark(pid, proc) if marks else None
        found[pid] = Proc(pid, int(fields[1]), name, int(fields[19]), mark)
    return found


def ancestors(pid: int, procs: dict[int, Proc]) -> set[int]:
    """``pid`` and every process above it."""
    found: set[int] = set()
    while pid in procs and pid not in found:
        found.add(pid)
        pid = procs[pid].ppid
    return found


def left_behind(now: dict[int, Proc], run: str, looking: int | None = None) -> list[Proc]:
    """Processes of the run still there: those with the run's mark ``run`` in their environment
    (a token made at the snapshot, so nothing older carries it), except ``looking`` (the checking
    process) and its ancestors."""
    if not run:
        return []  # a snapshot without a mark: no process can be told to be the run's
    mine = ancestors(looking, now) if looking is not None else set()
    return sorted((p for p in now.values() if p.mark == run and p.pid not in mine), key=lambda p: p.pid)


# --- snapshot and check --------------------------------------------------------------------------


def systemd_runs(proc: Path = Path("/proc")) -> bool:
    try:
        return (proc / "1" / "comm").read_text().strip() == "systemd"
    except OSError:
        return False


def running_services(runner: Run = run) -> frozenset[str]:
    done = runner(
        ["systemctl", "list-units", "--type=service", "--state=running", "--no-legend", "--no-pager"]
    )
    return frozenset(line.split()[0] for line in done.stdout.splitlines() if line.strip())


@dataclass(frozen=True)
class Snapshot:
    """What is enabled and running at one moment, and the mark of the run that starts after it."""

    systemd: bool
    enabled: Enabled
    services: frozenset[str]  # running services (only where systemd runs)
    processes: dict[int, Proc]
    mark: str = ""  # TEST_RUN_MARK of the run that follows

    @classmethod
    def take(cls, runner: Run = run, *, marks: bool = False) -> Snapshot:
        """Now (``marks``: with each process's run mark, for the check after the run)."""
        systemd = systemd_runs()
        return cls(
            systemd=systemd,
            enabled=Enabled.now(runner),
            services=running_services(runner) if systemd else frozenset(),
            processes=read_processes(marks=marks),
            mark=secrets.token_hex(12),
        )

    def to_json(self) -> str:
        units = self.enabled.units
        return json.dumps(
            {
                "systemd": self.systemd,
                "units": None if units is None else sorted(units),
                "sysv": sorted(self.enabled.sysv),
                "services": sorted(self.services),
                "processes": [asdict(p) for p in self.processes.values()],
                "mark": self.mark,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        data = json.loads(text)
        units = data["units"]
        return cls(
            systemd=bool(data["systemd"]),
            enabled=Enabled(None if units is None else frozenset(units), frozenset(data["sysv"])),
            services=frozenset(data["services"]),
            processes={p["pid"]: Proc(**p) for p in data["processes"]},
            mark=str(data.get("mark", "")),
        )


def problems(before: Snapshot, now: Snapshot) -> list[str]:
    """What the run left: units or init scripts enabled, services running (where systemd runs),
    and its processes still running (everywhere; the only evidence where systemd does not run)."""
    found = [
        f"enabled at boot now, not before: {u}"
        for u in sorted((now.enabled.units or set()) - (before.enabled.units or set()))
    ]
    found += [
        f"init script enabled now, not before: {s}" for s in sorted(now.enabled.sysv - before.enabled.sysv)
    ]
    if before.systemd and now.systemd:
        found += [f"running now, not before: {u}" for u in sorted(now.services - before.services)]
    for proc in left_behind(now.processes, before.mark, looking=os.getpid()):
        found.append(f"left running: {proc.name} (pid {proc.pid})")
    return found


def main(argv: Sequence[str]) -> int:
    if len(argv) >= 2 and argv[0] == "apt-install":
        return apt_install(argv[1:])
    if len(argv) == 2 and argv[0] == "snapshot":
        snap = Snapshot.take()
        Path(argv[1]).write_text(snap.to_json())
        print(snap.mark)  # the mark the run's processes carry: TEST_RUN_MARK=<this>
        return 0
    if len(argv) == 2 and argv[0] == "check":
        found = problems(Snapshot.from_json(Path(argv[1]).read_text()), Snapshot.take(marks=True))
        for line in found:
            print(f"machine: {line}", file=sys.stderr)
        return 1 if found else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
