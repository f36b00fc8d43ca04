"""``acd asterisk-config``: deploy/asterisk is its output; the files say what the design needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acd.asterisk_config import (
    FALLBACK_STATUSES,
    FILES,
    ConfigInputError,
    from_settings,
    render,
    resolve_agents,
)
from acd.cli import main
from acd.settings import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "asterisk"
EXAMPLE_AGENTS = ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003"]


def example() -> dict[str, str]:
    return render(from_settings(Settings(), EXAMPLE_AGENTS))


@pytest.mark.parametrize("name", FILES)
def test_deploy_files_are_the_generated_output(name: str) -> None:
    assert (DEPLOY / name).read_text(encoding="utf-8") == example()[name], (
        "regenerate: acd asterisk-config --agent PJSIP/1001 --agent PJSIP/1002 --agent PJSIP/1003"
        " --out deploy/asterisk (with no ACD_QUEUES/ACD_AFFINITY__* in the environment)"
    )


def _section(text: str, name: str) -> dict[str, str]:
    body = text.split(f"[{name}]", 1)[1].split("\n[", 1)[0]
    pairs = (line.split("=", 1) for line in body.splitlines() if "=" in line and not line.startswith(";"))
    return {k.strip(): v.split(";")[0].strip() for k, v in pairs}


def test_personal_queues_have_what_affinity_relies_on() -> None:
    queues = example()["queues-acd.conf"]
    t = _section(queues, "acd-agent-template")
    assert t["weight"] == "10" and t["ringinuse"] == "no" and t["timeout"] == "15"
    for key in ("joinempty", "leavewhenempty"):
        assert set(t[key].split(",")) >= {"paused", "unavailable", "invalid"}
        assert not set(t[key].split(",")) & {"inuse", "ringing", "wrapup"}  # busy agents are waited for
    for n in ("1001", "1002", "1003"):
        assert f"[acd-agent-{n}](acd-agent-template)" in queues


def test_dialplan_asks_acd_then_personal_queue_then_shared_queue_with_priority() -> None:
    plan = example()["extensions-acd.conf"]
    lines = [line.strip() for line in plan.splitlines() if line.strip() and not line.startswith(";")]
    agi = next(i for i, line in enumerate(lines) if ",AGI(agi://127.0.0.1:4573/route," in line)
    personal = next(i for i, line in enumerate(lines) if "Queue(${ACD_AGENT_QUEUE}" in line)
    prio = next(i for i, line in enumerate(lines) if "Set(QUEUE_PRIO=${ACD_PRIO})" in line)
    assert agi < personal < prio
    assert "Set(ACD_ROUTE=)" in plan  # a stale value from an earlier pass never routes
    assert all(f'"{s}"' in plan for s in FALLBACK_STATUSES)
    assert ",,,${ACD_WAIT})" in plan  # the bounded wait is Queue()'s timeout argument


def test_manager_user_is_least_privilege_and_loopback() -> None:
    manager = example()["manager-acd.conf"]
    general = _section(manager, "general")
    assert general["bindaddr"] == "127.0.0.1"
    user = _section(manager, "acd")
    assert user["read"] == "system,call,agent,user"
    assert user["write"] == "reporting,agent,user"
    assert user["permit"].startswith("127.0.0.1/")
    assert "dialplan" not in user["read"]


def test_agents_resolve_sorted_deduplicated_and_collisions_refused() -> None:
    assert resolve_agents(["PJSIP/1002", "# comment", "", "PJSIP/1001", "PJSIP/1002"]) == (
        ("PJSIP/1001", "acd-agent-1001"),
        ("PJSIP/1002", "acd-agent-1002"),
    )
    with pytest.raises(ConfigInputError, match="would share the queue 'acd-agent-1001'"):
        resolve_agents(["PJSIP/1001", "SIP/1001"])
    with pytest.raises(ConfigInputError, match="no usable id"):
        resolve_agents(["PJSIP/"])


def test_settings_flow_into_the_files() -> None:
    s = Settings(
        fastagi={"host": "0.0.0.0", "port": 4599},
        affinity={"ring_timeout_seconds": 12, "priority": 7},
        queues={"sales": {"wrapup_seconds": 15, "service_level_seconds": 30}},
    )
    files = render(from_settings(s, ["PJSIP/7"]))
    assert (
        "agi://127.0.0.1:4599/route" in files["extensions-acd.conf"]
    )  # a wildcard bind is reached on loopback
    assert _section(files["queues-acd.conf"], "acd-agent-template")["timeout"] == "12"
    sales = _section(files["queues.conf.example"], "sales")
    assert (sales["wrapuptime"], sales["servicelevel"], sales["weight"]) == ("15", "30", "0")


def test_command_writes_checks_and_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["asterisk-config", "--agent", "PJSIP/1001", "--agent", "PJSIP/1002", "--agent", "PJSIP/1003"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    assert main([*args, "--check", str(tmp_path)]) == 0
    (tmp_path / "queues-acd.conf").write_text("stale", encoding="utf-8")
    assert main([*args, "--check", str(tmp_path)]) == 1
    assert main(["asterisk-config", "--agent", "PJSIP/1", "--agent", "SIP/1"]) == 2
    assert "would share" in capsys.readouterr().err
    agents = tmp_path / "agents.txt"
    agents.write_text("# the desk\nPJSIP/1001\n", encoding="utf-8")
    assert main(["asterisk-config", "--agents-file", str(agents)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\[acd-agent-1001\]", out, re.M) and "acd-agent-1002" not in out
