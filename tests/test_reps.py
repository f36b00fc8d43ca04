"""Reps are people: the (server, interface) -> rep mapping, its refusals, and what routing makes of a
callback whose cut-off happened on another server."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import acd.settings
from acd.cli import main
from acd.core.affinity import AffinityPolicy, AgentView, CallbackRequest, decide
from acd.core.caller_history import PastCall
from acd.core.reps import RepMapError, parse_reps

MAPPING = """\
# server  interface    rep     name
a         PJSIP/1001   alice   Alice Martin
b         PJSIP/2001   alice
b         PJSIP/1001   bob     Bob Stone
a         PJSIP/1002   carol
"""
NOW = 10_000.0
CUT_ON_A = PastCall(
    "a-1.1", "a-1.1", "tel:5551100", "support", "PJSIP/1001", "Alice", True, True, NOW - 300, server="a"
)


def test_a_rep_on_two_servers_is_one_rep_and_one_interface_two_people() -> None:
    reps = parse_reps(MAPPING)
    alice_a, bob_b = reps.rep_of("a", "PJSIP/1001"), reps.rep_of("b", "PJSIP/1001")
    assert alice_a is not None and bob_b is not None
    assert (alice_a.rep, bob_b.rep) == ("alice", "bob")  # one interface, two people
    on_b = reps.interface_on("alice", "b")
    assert on_b is not None and on_b.interface == "PJSIP/2001"
    assert reps.interfaces("a") == ["PJSIP/1001", "PJSIP/1002"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            MAPPING + "a PJSIP/1003 alice\n",
            "line 6: rep alice is already mapped on server a (line 2: PJSIP/1001)",
        ),
        (
            MAPPING + "b  PJSIP/2001  dave\n",
            "line 6: PJSIP/2001 on server b is already mapped to alice (line 3)",
        ),
        ("a PJSIP/1001\n", "line 1: expected `server interface rep [name]`"),
        ("\n\na 1001 alice\n", "line 3: '1001' is not a state interface"),
    ],
)
def test_a_mapping_that_is_ambiguous_or_malformed_is_refused_with_its_line(text: str, said: str) -> None:
    with pytest.raises(RepMapError) as refused:
        parse_reps(text)
    assert str(refused.value).startswith(said), str(refused.value)


def test_the_daemon_refuses_a_bad_mapping_at_start_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reps.txt"
    path.write_text(MAPPING + "a PJSIP/1009 alice\n")
    monkeypatch.setenv("ACD_REPS_FILE", str(path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(acd.settings, "_warned", set())
    assert main(["config"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"acd: configuration error: ACD_REPS_FILE: {path} line 6: rep alice is already mapped on server a "
        "(line 2: PJSIP/1001); one person has one interface per server"
    ), line


def test_localize_gives_a_cut_off_on_another_server_its_reps_interface_here() -> None:
    reps = parse_reps(MAPPING)
    here, elsewhere = reps.localize(CUT_ON_A, "b")
    assert (here.agent, here.agent_name, here.server, elsewhere) == ("PJSIP/2001", "Alice Martin", "", None)
    carol = replace(CUT_ON_A, agent="PJSIP/1002")
    assert reps.localize(carol, "b") == (carol, "a")  # carol does not work on b
    assert parse_reps("").localize(CUT_ON_A, "b") == (CUT_ON_A, "a")  # no mapping: nobody is known
    mine = replace(CUT_ON_A, server="")
    assert reps.localize(mine, "b") == (mine, None)  # this server's own call is as it was


def alice_on_b(state: str = "available") -> AgentView:
    queues = {"support": state, "acd-agent-2001": state}
    return AgentView("PJSIP/2001", "Alice", state, queues)  # type: ignore[arg-type]


def test_a_callback_reaches_the_rep_under_their_interface_on_this_server() -> None:
    past, elsewhere = parse_reps(MAPPING).localize(CUT_ON_A, "b")
    d = decide(CallbackRequest("support", "tel:5551100"), past, alice_on_b(), AffinityPolicy(), NOW,
               elsewhere=elsewhere)  # fmt: skip
    assert (d.action, d.reason, d.agent, d.personal_queue, d.callback_of) == (
        "offer_now", "original_agent", "PJSIP/2001", "acd-agent-2001", "a-1.1",
    )  # fmt: skip


def test_a_callback_whose_rep_is_not_here_goes_to_the_queue_saying_why() -> None:
    request = CallbackRequest("support", "tel:5551100")
    d = decide(request, CUT_ON_A, None, AffinityPolicy(), NOW, elsewhere="a")
    assert (d.action, d.reason, d.detail) == ("queue", "fallback_other_server", "server:a")
    assert (d.agent, d.agent_name, d.callback_of, d.cutoff_at) == ("PJSIP/1001", "Alice", "a-1.1", NOW - 300)
    assert d.personal_queue is None  # never a personal queue of another server's interface


def test_asterisk_config_takes_this_servers_reps_and_gives_its_systemname(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reps.txt"
    path.write_text(MAPPING)
    monkeypatch.setenv("ACD_REPS_FILE", str(path))
    monkeypatch.setenv("ACD_SERVER_ID", "b")
    monkeypatch.setattr(acd.settings, "_warned", set())
    assert main(["asterisk-config", "--out", str(tmp_path / "out")]) == 0
    queues = (tmp_path / "out" / "queues-acd.conf").read_text()
    assert "[acd-agent-2001]" in queues and "[acd-agent-1001]" in queues  # alice and bob on b
    assert "[acd-agent-1002]" not in queues  # carol works on a only
    options = (tmp_path / "out" / "asterisk.conf.example").read_text()
    assert "[options]\nsystemname = b\n" in options
