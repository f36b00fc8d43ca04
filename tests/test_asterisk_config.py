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


def _route_lines() -> list[str]:
    plan = example()["extensions-acd.conf"].split("[acd-route]", 1)[1].split("\n[", 1)[0]
    return [line.strip() for line in plan.splitlines() if line.strip() and not line.startswith(";")]


def test_dialplan_asks_acd_within_the_bound_then_personal_queue_then_shared_queue() -> None:
    lines = _route_lines()

    def at(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    clear = at("ClearHash(acd)")  # a stale answer from an earlier pass never routes
    bound = at("Set(CURLOPT(httptimeout)=0.5)")
    assert "Set(CURLOPT(conntimeout)=0.5)" in lines[bound - 1]
    ask = at("Set(HASH(acd)=${CURL(http://127.0.0.1:8081/route?")
    complete = at('"${HASH(acd,end)}" = "1"')
    confirm = at("UserEvent(AcdRouted,Decision: ${ACD_DECISION})")
    personal = at("Queue(${ACD_AGENT_QUEUE}")
    prio = at("Set(QUEUE_PRIO=${ACD_PRIO})")
    assert clear < bound < ask < complete < confirm < personal < prio
    assert "ClearHash(acd)" in lines[complete + 1]  # an answer without end=1 counts for nothing
    plan = example()["extensions-acd.conf"]
    assert all(f'"{s}"' in plan for s in FALLBACK_STATUSES)
    assert ",${ACD_SCREENPOP_URL},,${ACD_WAIT})" in plan  # the bounded wait is Queue()'s timeout


def test_every_value_in_the_lookup_url_is_uriencoded() -> None:
    ask = next(line for line in _route_lines() if "${CURL(" in line)
    query = ask.split("/route?", 1)[1]
    for pair in query.removesuffix(")})").split("&"):
        _name, value = pair.split("=", 1)
        assert value.startswith("${URIENCODE(") and value.endswith(")}"), pair
    assert "caller=${URIENCODE(${CALLERID(num)})}" in query


def test_every_answer_field_becomes_its_channel_variable() -> None:
    from acd.routing.answer import FIELDS

    lines = _route_lines()
    for key, var in FIELDS:
        assert any(f"Set({var}=${{HASH(acd,{key})}})" in line for line in lines), var


def test_screen_pop_reaches_the_phones() -> None:
    plan = example()["extensions-acd.conf"]
    shared = next(line for line in _route_lines() if "(shared),Queue(" in line)
    assert shared.endswith(",${ACD_SCREENPOP_URL})")  # Queue()'s URL: IAX2 and Local phones
    assert "b(acd-predial^s^1(${ACD_SCREENPOP_URL}))" in shared  # the predial Gosub for PJSIP
    predial = plan.split("[acd-predial]", 1)[1]
    assert "PJSIP_HEADER(add,Call-Info)=<${ARG1}>\\;purpose=info" in predial
    assert "Return()" in predial


def test_manager_user_is_least_privilege_and_loopback() -> None:
    manager = example()["manager-acd.conf"]
    assert "[general]" not in manager  # #included: it must not change AMI for every client
    user = _section(manager, "acd")
    assert user["read"] == "system,call,agent,user"
    assert user["write"] == "reporting,agent,user"
    assert user["permit"].startswith("127.0.0.1/")
    assert "dialplan" not in user["read"]
    general = _section(example()["manager-general.conf.example"], "general")
    assert general["bindaddr"] == "127.0.0.1" and general["timestampevents"] == "yes"


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
        routing={"host": "0.0.0.0", "port": 4599, "timeout_seconds": 0.25},
        affinity={"ring_timeout_seconds": 12, "priority": 7},
        queues={"sales": {"wrapup_seconds": 15, "service_level_seconds": 30}},
    )
    files = render(from_settings(s, ["PJSIP/7"]))
    plan = files["extensions-acd.conf"]
    assert "${CURL(http://127.0.0.1:4599/route?" in plan  # a wildcard bind is reached on loopback
    assert "Set(CURLOPT(httptimeout)=0.25)" in plan
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


def test_lookup_host_must_be_an_ip_address() -> None:
    assert (
        "http://[::1]:8081/route"
        in render(from_settings(Settings(routing={"host": "::1"}), []))["extensions-acd.conf"]
    )
    with pytest.raises(ConfigInputError, match="give an IP address"):
        from_settings(Settings(routing={"host": "acd.example.com"}), [])
