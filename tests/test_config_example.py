"""deploy/acd.env.example is `acd config --example`, and both match the settings model."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from acd.cli import main
from acd.envfile import SECRET_PLACEHOLDER, env_vars, render_example
from acd.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "acd.env.example"
ASSIGNMENT = re.compile(r"^#(ACD_[A-Z0-9_]+)=(.*)$")


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _example_assignments(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for line in text.splitlines() if (m := ASSIGNMENT.match(line))}


def _leaf_names(model: type[BaseModel], prefix: str = "ACD_") -> set[str]:
    """Independently of the generator: every leaf field's variable name."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _leaf_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(prefix + name.upper())
    return names


def test_the_shipped_example_is_the_generated_one() -> None:
    generated = render_example()
    shipped = EXAMPLE.read_text()
    if shipped != generated:
        diff = "".join(
            difflib.unified_diff(
                shipped.splitlines(True), generated.splitlines(True), "deploy/acd.env.example", "generated"
            )
        )
        pytest.fail(
            "deploy/acd.env.example is out of date with acd/settings.py; regenerate it with\n"
            "  acd config --example > deploy/acd.env.example\n" + diff
        )


def test_cli_prints_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run_cli(["config", "--example"], capsys)
    assert code == 0
    assert out == render_example()


def test_every_setting_is_listed_once_with_a_meaning() -> None:
    variables = env_vars(strict=True)  # raises MissingDescription for an undocumented field
    names = [v.name for v in variables]
    assert len(names) == len(set(names))
    assert set(names) == _leaf_names(Settings)
    for required in (
        "ACD_AMI__HOST",
        "ACD_AMI__PORT",
        "ACD_AMI__USERNAME",
        "ACD_AMI__SECRET",
        "ACD_DATABASE__URL",
        "ACD_HTTP__HOST",
        "ACD_HTTP__PORT",
        "ACD_QUEUE_DEFAULTS__SERVICE_LEVEL_SECONDS",
        "ACD_QUEUE_DEFAULTS__CALLBACK_WINDOW_SECONDS",
    ):
        assert required in names
    text = render_example()
    for var in variables:
        block = f"# {var.meaning}\n#{var.name}={var.value}\n"
        assert block in text, var.name
        assert "\n" not in var.meaning


def test_secrets_show_a_placeholder_and_there_is_no_default_secret() -> None:
    text = render_example()
    assert f"#ACD_AMI__SECRET={SECRET_PLACEHOLDER}\n" in text
    default_secret = Settings.model_fields["ami"].get_default(call_default_factory=True).secret
    assert default_secret.get_secret_value() == ""  # acd run refuses to start without one
    assert '"token":"<secret>"' in text  # the shape of an API token entry, no value


def test_example_values_read_back_as_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Uncommenting every line unchanged (secrets aside) must configure exactly the defaults."""
    for key in list(os.environ):
        if key.upper().startswith("ACD_") or key == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(key)
    defaults = Settings()
    assignments = _example_assignments(EXAMPLE.read_text())
    assert assignments
    for key, value in assignments.items():
        if value != SECRET_PLACEHOLDER:
            monkeypatch.setenv(key, value)
    assert Settings() == defaults


def test_effective_config_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("ACD_AMI__SECRET", "very-secret-value")
    monkeypatch.setenv("ACD_AMI__HOST", "pbx.example")
    monkeypatch.setenv("ACD_API_TOKENS", '[{"token":"tok-value-1","role":"supervisor"}]')
    code, out, _ = _run_cli(["config"], capsys)
    assert code == 0
    assert "ACD_AMI__HOST=pbx.example\n" in out
    assert "ACD_AMI__SECRET=**********\n" in out
    assert "very-secret-value" not in out
    assert "tok-value-1" not in out


def test_effective_config_reports_bad_values_like_the_daemon(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACD_AMI__PORT", "99999")
    code, out, err = _run_cli(["config"], capsys)
    assert code == 2
    assert out == ""
    assert "ACD_AMI__PORT" in err
