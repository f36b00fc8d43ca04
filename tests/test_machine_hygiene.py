"""scripts/machine.py: the test command installs packages without starting their services, puts
back what the install enabled, and can tell what a run left running. Everything here works on a
scratch root, on made-up process tables or on ``sleep`` processes of its own (stopped by their
PIDs); nothing on this machine is installed, enabled or stopped by these tests."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("acd_machine", ROOT / "scripts" / "machine.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["acd_machine"] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


machine = _load()


class FakeSystem:
    """systemctl, update-rc.d and apt-get as a Debian install would drive them, on a scratch root:
    installing a package adds its unit to the enabled set and an S-link per runlevel, as the
    postinst does even when policy-rc.d forbids the start."""

    def __init__(self, root: Path, enabled: set[str], packages: dict[str, str]) -> None:
        self.root = root
        self.enabled = set(enabled)
        self.packages = packages  # package -> unit it ships
        self.commands: list[list[str]] = []
        self.policy_during_install: list[bytes | None] = []
        self.started: list[str] = []

    def _policy(self) -> bytes | None:
        path = self.root / machine.POLICY_RC_D
        return path.read_bytes() if path.exists() else None

    def __call__(self, cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        cmd = list(cmd)
        self.commands.append(cmd)
        out = ""
        if cmd[:2] == ["systemctl", "list-unit-files"]:
            out = "".join(f"{u} enabled enabled\n" for u in sorted(self.enabled))
        elif cmd[:2] == ["systemctl", "disable"]:
            for unit in cmd[3:]:
                self.enabled.discard(unit)
                self._links(unit.removesuffix(".service"), "K")
        elif cmd[:1] == ["update-rc.d"]:
            self._links(cmd[1], "K")
        elif cmd[:2] == ["apt-get", "install"]:
            self.policy_during_install.append(self._policy())
            for package in cmd[5:]:
                unit = self.packages[package]
                self.enabled.add(unit)  # deb-systemd-helper enable: whatever policy-rc.d says
                self._links(unit.removesuffix(".service"), "S")
                if self._policy() is None or b"exit 101" not in (self._policy() or b""):
                    self.started.append(unit)  # invoke-rc.d would have started it
        return subprocess.CompletedProcess(cmd, 0, out, "")

    def _links(self, name: str, kind: str) -> None:
        for level in machine.RUNLEVELS:
            directory = self.root / "etc" / f"rc{level}.d"
            directory.mkdir(parents=True, exist_ok=True)
            for old in directory.glob(f"?01{name}"):
                old.unlink()
            (directory / f"{kind}01{name}").symlink_to(f"../init.d/{name}")


def test_install_denies_starts_and_disables_what_it_enabled(tmp_path: Path) -> None:
    system = FakeSystem(
        tmp_path,
        enabled={"getty@.service", "postgresql.service"},  # PostgreSQL was already there: untouched
        packages={"prometheus": "prometheus.service", "cron": "cron.service"},
    )
    (tmp_path / "etc" / "rc2.d").mkdir(parents=True)
    (tmp_path / "etc" / "rc2.d" / "S01postgresql").symlink_to("../init.d/postgresql")

    assert machine.apt_install(["prometheus", "cron"], runner=system, root=tmp_path) == 0

    assert system.policy_during_install == [machine.DENY_STARTS]
    assert system.started == []
    assert system.enabled == {"getty@.service", "postgresql.service"}
    assert ["systemctl", "disable", "--no-reload", "cron.service", "prometheus.service"] in system.commands
    assert machine.sysv_enabled(tmp_path) == {"postgresql"}
    assert not (tmp_path / machine.POLICY_RC_D).exists()  # there was none before
    assert not any(c[0] in ("pkill", "killall", "kill") or c[1:2] == ["stop"] for c in system.commands)


def test_an_operators_policy_rc_d_is_put_back_byte_for_byte(tmp_path: Path) -> None:
    policy = tmp_path / machine.POLICY_RC_D
    policy.parent.mkdir(parents=True)
    policy.write_bytes(b"#!/bin/sh\n# site policy\nexit 0\n")
    policy.chmod(0o750)
    with machine.starts_denied(tmp_path):
        assert policy.read_bytes() == machine.DENY_STARTS
    assert policy.read_bytes() == b"#!/bin/sh\n# site policy\nexit 0\n"
    assert policy.stat().st_mode & 0o7777 == 0o750
    with pytest.raises(RuntimeError), machine.starts_denied(tmp_path):
        raise RuntimeError("apt failed")
    assert policy.read_bytes() == b"#!/bin/sh\n# site policy\nexit 0\n"  # also after a failure


def test_init_scripts_without_systemctl_are_disabled_with_update_rc_d(tmp_path: Path) -> None:
    before = machine.Enabled(None, frozenset({"dbus"}))
    after = machine.Enabled(None, frozenset({"dbus", "prometheus"}))
    assert machine.disable_commands(before, after) == [["update-rc.d", "prometheus", "disable"]]
    # with systemctl, one command covers a unit and its init script
    before = machine.Enabled(frozenset({"a.service"}), frozenset())
    after = machine.Enabled(frozenset({"a.service", "prometheus.service"}), frozenset({"prometheus"}))
    assert machine.disable_commands(before, after) == [
        ["systemctl", "disable", "--no-reload", "prometheus.service"]
    ]


def test_no_systemctl_means_no_unit_list() -> None:
    def missing(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(cmd[0])

    assert machine.enabled_units(missing) is None


P = machine.Proc


def test_left_behind_are_the_runs_processes_not_other_peoples() -> None:
    run = "r1"
    now = {
        1: P(1, 0, "init", 1),
        50: P(50, 1, "bash", 10),  # another engineer's shell
        60: P(60, 50, "postgres", 20),  # their server
        65: P(65, 1, "make", 30),  # the caller's own job
        70: P(70, 50, "prometheus", 1500),  # started meanwhile by their tests: not ours
        71: P(71, 1, "postgres", 1600),  # theirs too, orphaned by their pg_ctl: still not ours
        72: P(72, 65, "sleep", 1650),  # the caller's job started a child meanwhile: not ours
        80: P(80, 1, "prometheus", 1200, run),  # left by our run (orphaned): reported
        81: P(81, 80, "prometheus-child", 1300, run),  # and its children
        82: P(82, 50, "sleep", 1350, run),  # ours though someone else's shell adopted it
        83: P(83, 1, "postgres", 1360, "r0"),  # a leftover of an earlier run: not this one's
        90: P(90, 2, "kworker/0:1", 1400),  # a kernel thread
    }
    assert [p.pid for p in machine.left_behind(now, run)] == [80, 81, 82]
    # the checker and what it runs from are never counted, nor is anything without a mark to look for
    checking = {**now, 95: P(95, 1, "bash", 1100, run), 96: P(96, 95, "python3", 1700, run)}
    assert [p.pid for p in machine.left_behind(checking, run, looking=96)] == [80, 81, 82]
    assert machine.left_behind(now, "") == []


def test_a_process_the_run_leaves_is_caught_and_no_one_elses() -> None:
    """On this machine: a ``sleep`` started with the run's mark (as a leaky test would start it,
    detached) is reported; one started meanwhile without it (someone else's) is not."""
    before = machine.Snapshot.take()
    theirs_env = {k: v for k, v in os.environ.items() if k != machine.MARK}
    ours = subprocess.Popen(
        ["sleep", "300"], env={**theirs_env, machine.MARK: before.mark}, start_new_session=True
    )
    theirs = subprocess.Popen(["sleep", "300"], env=theirs_env, start_new_session=True)
    try:
        left = [
            line
            for line in machine.problems(before, machine.Snapshot.take(marks=True))
            if "left running" in line
        ]
        assert left == [f"left running: sleep (pid {ours.pid})"]
    finally:
        for proc in (ours, theirs):
            proc.kill()  # by its PID
            proc.wait(timeout=30)
    assert [
        line for line in machine.problems(before, machine.Snapshot.take(marks=True)) if "left running" in line
    ] == []


CLEAN = """#!/usr/bin/env bash
# a test run that leaves nothing; meanwhile someone else on the machine starts a job of their own
env -u TEST_RUN_MARK setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > "$PIDS/theirs"
"""
LEAKY = """#!/usr/bin/env bash
# a test run that leaves a sleep behind, detached (as a server a test forgot would be)
setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > "$PIDS/ours"
"""


@pytest.mark.parametrize(("script", "code"), [(CLEAN, 0), (LEAKY, 1)], ids=["clean", "leaky"])
def test_ci_run_fails_a_run_that_leaves_a_process_and_only_that(
    tmp_path: Path, script: str, code: int
) -> None:
    """``.ci/run`` around a stand-in for ``scripts/test`` in a copy of the clone."""
    clone = tmp_path / "clone"
    (clone / ".ci").mkdir(parents=True)
    (clone / "scripts").mkdir()
    shutil.copy2(ROOT / ".ci" / "run", clone / ".ci" / "run")
    shutil.copy2(ROOT / "scripts" / "machine.py", clone / "scripts" / "machine.py")
    (clone / "scripts" / "test").write_text(script)
    (clone / "scripts" / "test").chmod(0o755)
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {k: v for k, v in os.environ.items() if k != machine.MARK}
    try:
        done = subprocess.run(
            [str(clone / ".ci" / "run")], env={**env, "PIDS": str(pids)}, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        left = [line for line in done.stderr.splitlines() if "left running" in line]
        assert done.returncode == code, done.stderr
        if code:
            assert left == [f"machine: left running: sleep (pid {(pids / 'ours').read_text().strip()})"]
        else:
            assert left == [] and (pids / "theirs").exists()
    finally:
        for name in ("ours", "theirs"):
            if (pids / name).exists():  # by its PID, the one the stand-in wrote
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int((pids / name).read_text()), signal.SIGKILL)


def test_problems_compare_a_snapshot_with_now(tmp_path: Path) -> None:
    before = machine.Snapshot(
        systemd=True,
        enabled=machine.Enabled(frozenset({"a.service"}), frozenset()),
        services=frozenset({"a.service"}),
        processes={1: P(1, 0, "systemd", 1)},
        mark="r1",
    )
    again = machine.Snapshot.from_json(before.to_json())
    assert again == before
    now = machine.Snapshot(
        systemd=True,
        enabled=machine.Enabled(frozenset({"a.service", "prometheus.service"}), frozenset({"prometheus"})),
        services=frozenset({"a.service", "prometheus.service"}),
        processes={1: P(1, 0, "systemd", 1), 7: P(7, 1, "prometheus", 500, "r1")},
    )
    assert machine.problems(before, now) == [
        "enabled at boot now, not before: prometheus.service",
        "init script enabled now, not before: prometheus",
        "running now, not before: prometheus.service",
        "left running: prometheus (pid 7)",
    ]
    assert machine.problems(before, again) == []


def test_reads_this_machines_process_table() -> None:
    procs = machine.read_processes()
    me = procs[os.getpid()]
    assert me.ppid == os.getppid() and me.start > 0 and me.name
    snap = machine.Snapshot.take()
    assert machine.problems(snap, snap) == []


def test_ci_runs_the_check_around_the_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/machine.py snapshot" in ci and "scripts/machine.py check" in ci
    script = (ROOT / "scripts" / "test").read_text()
    assert "scripts/machine.py apt-install" in script
    for forbidden in ("pkill", "killall", "systemctl stop", "service prometheus stop"):
        assert forbidden not in script and forbidden not in ci
