"""The code stays typed and lint-clean, and the CLI fails on bad configuration the same way
everywhere: one line naming the variable, exit code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it comes with the test extra)")
    return found


def test_ruff_is_clean() -> None:
    out = subprocess.run(
        [_tool("ruff"), "check", "acd", "tests", "bench", "scripts"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict_is_clean() -> None:
    # scripts/machine.py runs before the virtualenv exists, with the system's Python: checked too;
    # so are the tools that moved out of the package (the template generator, the metrics' data).
    paths = ["acd", "scripts/machine.py", "scripts/gen_templates.py", "tests/support/synthetic.py"]
    out = subprocess.run([_tool("mypy"), "--strict", *paths], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ACD_AMI__PORT": "abc"}, "ACD_AMI__PORT"),
        ({"ACD_AMI__PORT": "70000"}, "ACD_AMI__PORT"),
        ({"ACD_QUEUES": '{"sales": {"wrapup_secs": 5}}'}, "ACD_QUEUES"),
        ({"ACD_CREDIT_POLICY": "everyone"}, "ACD_CREDIT_POLICY"),
        ({"ACD_API_TOKENS": '[{"token": "t", "role": "agent"}]'}, "ACD_API_TOKENS"),
    ],
)
def test_bad_configuration_is_one_clear_line_and_exit_2(
    env: dict[str, str], needle: str, tmp_path: Path
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}
    out = subprocess.run(
        [sys.executable, "-m", "acd.cli", "run"],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], out.stderr


def test_secret_never_in_the_configuration_error(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}
    env = {
        **clean,
        "ACD_AMI__SECRET": "s3cr3t-value",
        "ACD_AMI__RECONNECT_MIN": "5",
        "ACD_AMI__RECONNECT_MAX": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "acd.cli", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "ACD_AMI__RECONNECT_MAX" in out.stderr
    assert "s3cr3t-value" not in out.stderr + out.stdout
