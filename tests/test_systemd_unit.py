"""deploy/systemd/acd.service: valid for systemd, sandboxed (exposure <= 2.0), consistent with acd."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from acd.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "systemd" / "acd.service"
MAX_EXPOSURE = 2.0

analyze = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed")


def _directives(text: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> values in order; systemd allows a key to repeat (LoadCredential=)."""
    found: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        found.setdefault((section, key.strip()), []).append(value.strip())
    return found


def _seconds(span: str) -> float:
    """A systemd time span such as ``45s``, ``1min 30s`` or ``500ms``, in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span):
        total += float(number) * units[unit or "s"]
    return total


@pytest.fixture(scope="module")
def unit() -> dict[tuple[str, str], list[str]]:
    return _directives(UNIT.read_text())


def _one(unit: dict[tuple[str, str], list[str]], section: str, key: str) -> str:
    values = unit.get((section, key))
    assert values, f"[{section}] {key}= is missing"
    return values[-1]


def _installed_acd() -> Path:
    script = Path(sys.executable).parent / "acd"
    assert script.is_file() and os.access(script, os.X_OK), (
        f"{script} missing: install the package (pip install -e .) so the console script exists"
    )
    return script


def _copy_with_exec_start(tmp_path: Path) -> Path:
    text = UNIT.read_text()
    new, count = re.subn(
        r"^ExecStart=/opt/acd/venv/bin/acd ", f"ExecStart={_installed_acd()} ", text, flags=re.MULTILINE
    )
    assert count == 1, "ExecStart= is expected to be /opt/acd/venv/bin/acd run"
    copy = tmp_path / "acd.service"
    copy.write_text(new)
    return copy


@needs_analyze
def test_security_exposure_is_at_most_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(analyze), "security", "--offline=yes", "--no-pager", str(_copy_with_exec_start(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout + result.stderr)
    assert match, f"no exposure score in systemd-analyze output:\n{result.stdout}\n{result.stderr}"
    score = float(match.group(1))
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}:\n{result.stdout}"


@needs_analyze
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    """verify needs ExecStart to exist: a copy points it at this test run's own ``acd``."""
    copy = _copy_with_exec_start(tmp_path)
    result = subprocess.run(
        [str(analyze), "verify", "--no-pager", str(copy)], capture_output=True, text=True, timeout=60
    )
    # Unknown keys and bad values are warnings with exit status 0: any output is a failure.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_documentation_points_at_the_readme_section(unit: dict[tuple[str, str], list[str]]) -> None:
    docs = unit[("Unit", "Documentation")]
    readme_uri = next(d for d in docs if d.startswith("file://"))
    path, _, anchor = readme_uri.removeprefix("file://").partition("#")
    readme = (ROOT / "README.md").read_text()
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in readme.splitlines()
        if line.startswith("## ")
    }
    assert anchor in headings, f"#{anchor} is not a README section"
    # ...and the README's install steps put the README where the unit says it is.
    assert f"README.md {path}" in readme


def test_readiness_and_watchdog(unit: dict[tuple[str, str], list[str]]) -> None:
    assert _one(unit, "Service", "Type") == "notify"
    assert _one(unit, "Service", "NotifyAccess") == "main"
    watchdog = _seconds(_one(unit, "Service", "WatchdogSec"))
    # acd.sdnotify pings every WatchdogSec/2; a real hang must not wait minutes to be noticed
    assert 5 <= watchdog <= 60
    assert _one(unit, "Service", "ExecStart") == "/opt/acd/venv/bin/acd run"


def test_restart_policy_and_start_limits(unit: dict[tuple[str, str], list[str]]) -> None:
    assert _one(unit, "Service", "Restart") == "on-failure"
    # start limits live in [Unit] since systemd 230; in [Service] they are silently ignored
    assert _seconds(_one(unit, "Unit", "StartLimitIntervalSec")) > 0
    assert int(_one(unit, "Unit", "StartLimitBurst")) >= 1
    assert ("Service", "StartLimitBurst") not in unit


def test_stop_timeout_outlasts_the_drain_deadline(unit: dict[tuple[str, str], list[str]]) -> None:
    flush_deadline = Settings.model_fields["database"].get_default(call_default_factory=True).flush_deadline
    assert _seconds(_one(unit, "Service", "TimeoutStopSec")) >= 2 * flush_deadline


def test_ordering_on_network_and_asterisk(unit: dict[tuple[str, str], list[str]]) -> None:
    after = " ".join(unit[("Unit", "After")]).split()
    wants = " ".join(unit[("Unit", "Wants")]).split()
    assert "network-online.target" in after and "network-online.target" in wants
    assert "asterisk.service" in after
    # acd must start (and report AMI as reconnecting) when Asterisk is absent: no Requires=
    assert ("Unit", "Requires") not in unit


def test_configuration_and_credentials_match_the_settings_loader(
    unit: dict[tuple[str, str], list[str]],
) -> None:
    assert _one(unit, "Service", "EnvironmentFile") == "-/etc/acd/acd.env"
    credentials = dict(v.split(":", 1) for v in unit[("Service", "LoadCredential")])
    # acd.settings reads exactly these names from $CREDENTIALS_DIRECTORY
    assert set(credentials) == {"ami_secret", "api_tokens", "session_secret"}
    assert all(path.startswith("/etc/acd/") for path in credentials.values())
    defaults = dict(v.split(":", 1) for v in unit.get(("Service", "SetCredential"), []))
    assert "ami_secret" not in defaults, "the AMI secret must never have a built-in default"
    if "api_tokens" in defaults:
        assert json.loads(defaults["api_tokens"]) == []
    assert "session_secret" not in defaults, "a built-in session key would be everyone's"


def test_state_directory_is_the_working_directory(unit: dict[tuple[str, str], list[str]]) -> None:
    state = _one(unit, "Service", "StateDirectory")
    assert _one(unit, "Service", "WorkingDirectory") == f"/var/lib/{state}"
    # the default database URL and spool are relative: they land in the state directory
    defaults = Settings.model_fields["database"].get_default(call_default_factory=True)
    assert defaults.url == "sqlite+aiosqlite:///acd.db"
    assert not defaults.spool_dir.startswith("/")


def test_sandbox_settings(unit: dict[tuple[str, str], list[str]]) -> None:
    expected = {
        "User": "acd",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }
    for key, value in expected.items():
        assert _one(unit, "Service", key) == value, key
    assert "@system-service" in unit[("Service", "SystemCallFilter")]
    # libffi (ctypes/cffi) maps writable+executable memory: this setting breaks it
    assert ("Service", "MemoryDenyWriteExecute") not in unit


def test_the_unit_can_read_asterisks_queue_log(unit: dict[tuple[str, str], list[str]]) -> None:
    """Asterisk's queue_log is 0640 asterisk:asterisk: acd reads it as a member of that group. A
    transient user (DynamicUser=) cannot be one, and a private user namespace (PrivateUsers=)
    would not map the group; the sandbox leaves /var/log readable (ProtectSystem=strict)."""
    default = Settings.model_fields["queue_log"].get_default(call_default_factory=True).path
    assert default == "/var/log/asterisk/queue_log"
    assert "asterisk" in " ".join(unit[("Service", "SupplementaryGroups")]).split()
    assert _one(unit, "Service", "User") == "acd" and _one(unit, "Service", "Group") == "acd"
    for key in ("DynamicUser", "PrivateUsers"):
        assert unit.get(("Service", key), ["no"])[-1] in ("no", "false"), key
    for key in ("InaccessiblePaths", "TemporaryFileSystem", "ProtectHome"):
        assert not any("/var/log" in v for v in unit.get(("Service", key), [])), key


def _systemd_is_pid1() -> bool:
    try:
        return Path("/proc/1/comm").read_text().strip() == "systemd" and Path("/run/systemd/system").is_dir()
    except OSError:
        return False


@pytest.mark.skipif(
    not _systemd_is_pid1() or os.geteuid() != 0,
    reason="systemd is not running as PID 1 here (or not root), so the daemon cannot be started "
    "under the unit's sandbox; systemd-analyze checks above still ran",
)
def test_daemon_runs_under_the_units_sandbox(tmp_path: Path) -> None:
    """Start the real daemon as a system service with the shipped sandbox and stop it cleanly.

    Asterisk is deliberately unreachable: acd must still report READY (database and listeners
    open) and stay up reconnecting, then drain and exit 0 on stop.
    """
    name = f"acd-sandbox-test-{uuid.uuid4().hex[:8]}"
    text = _copy_with_exec_start(tmp_path).read_text()
    text = re.sub(r"^(LoadCredential|SetCredential)=.*$", "", text, flags=re.MULTILINE)
    # This machine has no acd user nor asterisk group: a transient user stands in for them.
    text = re.sub(r"^(User|Group|SupplementaryGroups)=.*$", "", text, flags=re.MULTILINE)
    text = text.replace("[Service]\n", "[Service]\nDynamicUser=yes\n", 1)
    text = text.replace(
        "[Service]\n",
        "[Service]\n"
        "SetCredential=ami_secret:sandbox-test\n"
        "SetCredential=api_tokens:[]\n"
        "SetCredential=session_secret:sandbox-session-key\n"
        "Environment=ACD_AMI__HOST=127.0.0.1 ACD_AMI__PORT=9 ACD_HTTP__PORT=0 ACD_ROUTING__PORT=0\n"
        f"StateDirectory={name}\n"
        f"WorkingDirectory=/var/lib/{name}\n",
        1,
    )
    unit_path = Path("/run/systemd/system") / f"{name}.service"
    unit_path.write_text(text)

    def systemctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=90)

    try:
        systemctl("daemon-reload")
        started = systemctl("start", f"{name}.service")  # returns once READY=1 arrived (Type=notify)
        assert started.returncode == 0, started.stderr + systemctl("status", f"{name}.service").stdout
        time.sleep(2)
        show = systemctl("show", f"{name}.service", "-p", "ActiveState,SubState,NRestarts,StatusText")
        assert "ActiveState=active" in show.stdout and "SubState=running" in show.stdout, show.stdout
        assert "NRestarts=0" in show.stdout, show.stdout
        stopped = systemctl("stop", f"{name}.service")
        assert stopped.returncode == 0, stopped.stderr
        result = systemctl("show", f"{name}.service", "-p", "Result,ExecMainStatus")
        assert "Result=success" in result.stdout and "ExecMainStatus=0" in result.stdout, result.stdout
    finally:
        systemctl("stop", f"{name}.service")
        unit_path.unlink(missing_ok=True)
        systemctl("daemon-reload")
        systemctl("reset-failed", f"{name}.service")
