"""Every capture from the real Asterisk, replayed through the core, checked against Asterisk's own
queue_log for the same traffic (counts, agent, hold and talk time within 1 s, who ended the call).

Where acd and queue_log disagree, acd is right and KNOWN_DIFFERENCES says why: each entry is a
call the capture's step log shows was ended in a way queue_log misreports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from acd.ami.codec import Framer
from acd.capture.replay import replay, replay_file
from acd.core.effects import CallRecord
from tests.queue_log import parse_queue_log

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
PAIRS = sorted(
    (ql.with_name(ql.name.replace(".queue_log", ".ami.log")), ql)
    for ql in FIXTURES.rglob("*.queue_log")
    if ql.name != "queue_log"
)

END_EVENT = {
    "COMPLETECALLER": "caller",
    "COMPLETEAGENT": "agent",
    "BLINDTRANSFER": "transfer",
    "ATTENDEDTRANSFER": "transfer",
}

# (capture, callid) -> (what acd says, why queue_log differs)
AGENT_AMI_HANGUP = (
    "agent",
    "the agent's bridged channel was hung up over AMI; app_queue then sees the caller's hang-up "
    "first and logs COMPLETECALLER, but the first end signal after the connect is the agent leg "
    "leaving the bridge",
)
KNOWN_DIFFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("agent_hangup_cutoff.ami.log", "1795878933.4"): AGENT_AMI_HANGUP,  # step 3a
    ("asterisk_restart.ami.log", "1795879268.90"): (
        "system",
        "Asterisk was restarted mid-call (SoftHangupRequest with the shutdown flag first); "
        "queue_log's COMPLETEAGENT names neither side",
    ),
    ("transfer.ami.log", "1795879092.46"): (
        "transfer",
        "step 8b: the caller was redirected out of the bridge to another extension; queue_log "
        "logs COMPLETECALLER when the caller finally hangs up elsewhere",
    ),
    ("redirect_to_agent.ami.log", "1795879144.60"): (
        "exited",
        "step 9a: the waiting caller was redirected to another context and went on to an agent; "
        "Asterisk logs every Redirect out of Queue() as ABANDON, but the caller did not give up",
    ),
    # The weighted-queue runs end agent calls the same way as step 3a.
    ("e2_busy_wrap0.ami.log", "1795882328.76"): AGENT_AMI_HANGUP,
    ("e2_busy_wrap0.ami.log", "1795882333.88"): AGENT_AMI_HANGUP,
    ("e4_paused.ami.log", "1795882590.280"): AGENT_AMI_HANGUP,
    ("e6_race.ami.log", "1795882620.302"): AGENT_AMI_HANGUP,
    ("e6_race.ami.log", "1795882623.306"): AGENT_AMI_HANGUP,
    ("e6_race.ami.log", "1795882638.320"): AGENT_AMI_HANGUP,
    ("e6_race.ami.log", "1795882641.328"): AGENT_AMI_HANGUP,
    ("e6_race.ami.log", "1795882681.364"): AGENT_AMI_HANGUP,
}


def _records_by_entry(records: list[CallRecord]) -> dict[tuple[str, str], list[CallRecord]]:
    out: dict[tuple[str, str], list[CallRecord]] = {}
    for r in sorted(records, key=lambda r: (r.uniqueid, r.entry)):
        out.setdefault((r.uniqueid, r.queue), []).append(r)
    return out


@pytest.mark.parametrize(("capture", "queue_log"), PAIRS, ids=lambda p: p.name)
def test_replay_agrees_with_queue_log(capture: Path, queue_log: Path) -> None:
    expected = parse_queue_log(queue_log)
    result = replay_file(capture)
    assert result.anomalies == []
    got = _records_by_entry(result.records)
    assert len(result.records) == len(expected)
    used_differences = set()
    for entry in expected:
        records = got.get((entry.callid, entry.queue))
        assert records, f"no record for queue_log entry {entry}"
        record = records.pop(0)
        known = KNOWN_DIFFERENCES.get((capture.name, entry.callid))
        outcome_expected = entry.outcome
        if known and known[0] == "exited":
            outcome_expected = "exited"
            used_differences.add((capture.name, entry.callid))
        assert record.outcome == outcome_expected, (entry, record)
        if entry.agent:
            assert record.agent_name == entry.agent
        if entry.holdtime is not None:
            assert abs(record.wait_seconds - entry.holdtime) <= 1, (entry, record)
        if entry.talktime is not None:
            assert abs(record.talk_seconds - entry.talktime) <= 1, (entry, record)
        if entry.end_event:
            want = END_EVENT[entry.end_event]
            if known and record.ended_by == known[0] and known[0] != want:
                used_differences.add((capture.name, entry.callid))
            else:
                assert record.ended_by == want, (entry, record)
        if entry.exit_event == "EXITWITHTIMEOUT":
            assert record.exit_reason == "timeout"
        if entry.exit_event == "ABANDON" and record.outcome == "abandoned":
            assert record.exit_reason in ("short", "long")
    listed = {k for k in KNOWN_DIFFERENCES if k[0] == capture.name}
    assert listed == used_differences, "a listed difference no longer occurs: update the list"


def test_cut_off_classification_on_the_captures() -> None:
    cut = {r.id: r for r in replay_file(FIXTURES / "caller_dropped.ami.log").records}
    assert cut["1795878962.12"].cut_off and "caller_cause_38" in cut["1795878962.12"].cut_off_reasons
    assert cut["1795878962.12"].ended_by == "caller"
    assert cut["1795878975.16"].cut_off and cut["1795878975.16"].cause == 41
    agent = {r.id: r for r in replay_file(FIXTURES / "agent_hangup_cutoff.ami.log").records}
    # 3a: agent released over AMI, all causes 16: not a cut-off, but an agent-released short call.
    assert not agent["1795878933.4"].cut_off
    assert agent["1795878933.4"].agent_released_short
    # 3b: the agent's phone dropped with 41.
    assert agent["1795878945.8"].cut_off and agent["1795878945.8"].ended_by == "agent"
    normal = replay_file(FIXTURES / "answered_call.ami.log").records
    assert [r.cut_off for r in normal] == [False]
    restart = replay_file(FIXTURES / "asterisk_restart.ami.log").records
    assert restart[0].cut_off and restart[0].cut_off_reasons == ("asterisk_restart",)
    # An abandon's cancelled ring leg ends with cause 0: neither a cut-off nor answered.
    for r in replay_file(FIXTURES / "abandon.ami.log").records:
        assert r.outcome == "abandoned" and not r.cut_off


def test_ring_no_answer_and_offers() -> None:
    (record,) = replay_file(FIXTURES / "ring_no_answer.ami.log").records
    results = [(o.agent_name, o.result) for o in record.offers]
    assert ("Dave", "no_answer") in results
    assert results[-1] == ("Alice", "answered")
    dave = next(o for o in record.offers if o.agent_name == "Dave")
    assert dave.ring_seconds == pytest.approx(15.0)


def test_withdraw_is_an_exit_when_acd_pulled_the_caller() -> None:
    from acd.core.callcenter import Core

    core = Core()
    msgs = Framer().feed((FIXTURES / "redirect_to_agent.ami.log").read_bytes())
    records = []
    for m in msgs:
        if m.get("Event") == "QueueCallerJoin" and m.get("Uniqueid") == "1795879158.64":
            out = core.apply(m, 1.0)
            core.withdrawing("1795879158.64")
        else:
            out = core.apply(m, 1.0)
        records += [e.record for e in out if hasattr(e, "record")]
    records += [e.record for e in core.tick(1000.0) if hasattr(e, "record")]
    by_id = {r.id: r for r in records}
    assert by_id["1795879158.64"].outcome == "exited"
    assert by_id["1795879158.64"].exit_reason == "withdraw"
    assert by_id["1795879144.60"].exit_reason == "redirect"


def test_personal_queue_timeout_then_shared_queue() -> None:
    records = replay_file(FIXTURES / "weighted-queues" / "e3_timeout.ami.log").records
    personal = [r for r in records if r.queue == "acd-agent-1001"]
    assert personal and all(r.outcome == "exited" and r.exit_reason == "timeout" for r in personal)
    for p in personal:
        follow = next(r for r in records if r.uniqueid == p.uniqueid and r.entry == 2)
        assert follow.queue == "support" and follow.id == p.uniqueid + "#2"
        assert follow.linkedid == p.linkedid


def _drop_first(path: Path, k: int) -> list[dict[str, str]]:
    return Framer().feed(path.read_bytes())[k:]


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("*.ami.log")), ids=lambda p: p.name)
def test_attaching_mid_call_never_raises_nor_goes_negative(path: Path) -> None:
    messages = Framer().feed(path.read_bytes())
    step = max(1, len(messages) // 60)
    for k in range(0, len(messages), step):
        result = replay(messages[k:])
        for r in result.records:
            assert r.wait_seconds >= 0 and r.talk_seconds >= 0, (k, r)
            assert r.ended_at >= r.joined_at, (k, r)
            assert r.outcome in ("answered", "abandoned", "exited")
            if k > 0 and r.outcome == "answered":
                assert r.agent is not None


def test_replay_json_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "acd.cli", "replay", str(FIXTURES / "transfer.ami.log"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout)
    assert doc["asterisk"] == "Asterisk Call Manager/11.0.0"
    assert doc["events"] == 739
    assert doc["queues"]["support"] == {"offered": 3, "answered": 3, "abandoned": 0, "exited": 0}
    assert doc["agents"]["Alice"]["answered"] == 2
    call = doc["calls"][0]
    for key in (
        "id",
        "queue",
        "caller",
        "agent",
        "outcome",
        "ended_by",
        "cut_off",
        "cause",
        "wait_seconds",
        "talk_seconds",
        "callback_of",
        "repeat_of",
    ):
        assert key in call
    assert doc["anomalies"] == 0


def test_replay_missing_file_is_a_clear_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "acd.cli", "replay", "/nonexistent.ami.log"], capture_output=True, text=True
    )
    assert out.returncode == 1 and "no such file" in out.stderr


def test_replay_into_a_database_twice_writes_each_call_once(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "replay.db"
    cmd = [
        sys.executable,
        "-m",
        "acd.cli",
        "replay",
        str(FIXTURES / "transfer.ami.log"),
        "--database",
        f"sqlite+aiosqlite:///{db}",
        "--start",
        "2026-11-01T10:00:00+00:00",
        "--json",
    ]
    env = {"ACD_DATABASE__SPOOL_DIR": str(tmp_path / "spool"), "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd=tmp_path)
    rows = sqlite3.connect(db).execute("select call_id, joined_at from calls order by joined_at").fetchall()
    assert [r[0] for r in rows] == ["1795879074.40", "1795879092.46", "1795879117.52"]
    start = 1793527200.0  # 2026-11-01T10:00:00Z: the first dated event
    assert [round(r[1] - start) for r in rows] == [0, 18, 43]  # dated from --start, spaced as recorded


def test_replay_clock_is_monotonic_and_shifted() -> None:
    from acd.capture.reading import ReplayClock

    clock = ReplayClock(start=1000.0)
    assert clock({"Event": "FullyBooted"}) == pytest.approx(1000.001)
    assert clock({"Event": "Newchannel", "Uniqueid": "1795879074.40"}) == pytest.approx(1000.002)
    assert clock({"Event": "Newchannel", "Uniqueid": "1795879084.41"}) == pytest.approx(1010.0)
    assert clock({"Event": "Hangup", "Uniqueid": "1795879074.40"}) == pytest.approx(1010.001)
    assert clock({"Event": "X", "Timestamp": "1795879100.5"}) > 1010.001
