"""The FastAGI edge over real sockets: protocol, deadline, slow or failing answers, refused port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from acd.routing.fastagi import (
    AgiProtocolError,
    AgiRequest,
    FastAgiServer,
    Reply,
    Variables,
    format_set_variable,
    parse_request,
)
from acd.routing.service import fallback_variables
from tests.fastagi_client import REQUEST, agi_dialogue, request_for

DECISION: Variables = (
    ("ACD_REASON", "original_agent"),
    ("ACD_AGENT_QUEUE", "acd-agent-1001"),
    ("ACD_ROUTE", "agent"),
)


def test_request_parsed_from_the_capture() -> None:
    req = parse_request(REQUEST)
    assert req.script == "route"
    assert req.params == {"queue": "support", "mode": "affinity"}
    assert req.args == ("arg1", "arg2")
    assert (req.uniqueid, req.channel, req.callerid) == (
        "1795879223.82",
        "Local/5551100@caller-sim-00000029;1",
        "5551100",
    )
    assert req.get("agi_accountcode") == ""  # "agi_accountcode: " with nothing after the space
    assert req.get("agi_version") == "22.10.1"


def test_request_with_crlf_and_trailing_data() -> None:
    req = parse_request(REQUEST.replace("\n", "\r\n") + "\r\nSET VARIABLE X 1\r\n")
    assert req.uniqueid == "1795879223.82" and len(req.env) == 24


@pytest.mark.parametrize("bad", ["", "hello\n\n", "agi_network: yes\n\n", "GET / HTTP/1.1\r\n\r\n"])
def test_bad_requests_are_refused(bad: str) -> None:
    with pytest.raises(AgiProtocolError):
        parse_request(bad)


def test_set_variable_quotes_and_escapes() -> None:
    assert format_set_variable("A", 'say "hi" \\ now\nx') == b'SET VARIABLE A "say \\"hi\\" \\\\ now x"\n'
    with pytest.raises(ValueError):
        format_set_variable("BAD NAME", "x")


class Answers:
    """An answer callable whose speed and failures the test controls."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.seen: list[AgiRequest] = []
        self.release = threading.Event()
        self.done: list[tuple[str, object]] = []

    def delivered(self, request: AgiRequest, reply: Reply) -> None:
        self.done.append((request.uniqueid, reply.note))

    def __call__(self, request: AgiRequest) -> Reply:
        self.seen.append(request)
        if self.delay:
            self.release.wait(self.delay)
        if self.fail:
            raise RuntimeError("snapshot broken")
        return Reply(DECISION, note=request.uniqueid)


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def server(answers: Answers) -> Iterator[FastAgiServer]:
    srv = FastAgiServer("127.0.0.1", 0, 300, answers, fallback_variables, delivered=answers.delivered)
    srv.start()
    yield srv
    answers.release.set()
    srv.close()


def test_full_dialogue_sets_variables_in_order_and_closes(server: FastAgiServer, answers: Answers) -> None:
    d = agi_dialogue(server.port)
    assert d.commands == [
        'SET VARIABLE ACD_REASON "original_agent"',
        'SET VARIABLE ACD_AGENT_QUEUE "acd-agent-1001"',
        'SET VARIABLE ACD_ROUTE "agent"',
    ]
    assert d.closed_by_server and d.elapsed < 0.3
    assert answers.seen[0].uniqueid == "1795879223.82"
    assert server.stats.answered == 1
    assert answers.done == [("1795879223.82", "1795879223.82")]  # reported once set in full


def test_blocked_answer_gives_no_preference_within_the_deadline(
    server: FastAgiServer, answers: Answers
) -> None:
    answers.delay = 10.0
    d = agi_dialogue(server.port)
    assert d.variables == {"ACD_REASON": "late", "ACD_ROUTE": "queue"}
    assert d.elapsed < 0.3 + 0.05  # the wall-clock deadline, whatever the answer does
    assert server.stats.late == 1
    answers.release.set()  # the late decision completes now: it must never count as made
    time.sleep(0.1)
    assert answers.done == []


def test_every_caller_answered_while_all_workers_are_stuck(server: FastAgiServer, answers: Answers) -> None:
    answers.delay = 10.0
    results: list[float] = []

    def one() -> None:
        d = agi_dialogue(server.port)
        assert d.variables["ACD_ROUTE"] == "queue"
        results.append(d.elapsed)

    threads = [threading.Thread(target=one) for _ in range(20)]  # more than the 8 workers
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(results) == 20 and max(results) < 0.3 + 0.1


def test_slow_but_in_time_answer_is_delivered(server: FastAgiServer, answers: Answers) -> None:
    answers.delay = 0.1
    d = agi_dialogue(server.port)
    assert d.variables["ACD_ROUTE"] == "agent" and 0.1 <= d.elapsed < 0.3


def test_failing_answer_gives_no_preference(server: FastAgiServer, answers: Answers) -> None:
    answers.fail = True
    d = agi_dialogue(server.port)
    assert d.variables == {"ACD_REASON": "error", "ACD_ROUTE": "queue"}
    assert server.stats.failed == 1


def test_hangup_stops_the_dialogue(server: FastAgiServer, answers: Answers) -> None:
    d = agi_dialogue(server.port, reply=lambda cmd: "HANGUP")
    assert len(d.commands) == 1 and d.closed_by_server
    assert answers.done == []  # the caller left before the route was set: no decision was made


def test_garbage_request_is_closed_without_commands(server: FastAgiServer) -> None:
    d = agi_dialogue(server.port, request="GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert d.commands == [] and d.closed_by_server
    assert server.stats.bad_requests == 1


def test_silent_client_is_dropped_at_the_deadline(server: FastAgiServer) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
        sock.sendall(b"agi_network: yes\n")  # never finishes the environment
        assert sock.recv(100) == b""
    assert time.monotonic() - started < 0.5


def test_account_and_queue_come_from_the_agi_arguments(server: FastAgiServer, answers: Answers) -> None:
    agi_dialogue(server.port, request=request_for(queue="sales", account="AC-7"))
    assert answers.seen[0].args == ("sales", "AC-7")


def test_daemon_down_is_a_refused_connection() -> None:
    """What Asterisk meets when acd is not running: an immediate refusal (AGISTATUS=FAILURE), so the
    dialplan goes on to the shared queue with ACD_ROUTE empty (deploy/asterisk/extensions-acd.conf)."""
    srv = FastAgiServer("127.0.0.1", 0, 300, Answers(), fallback_variables)
    srv.start()
    port = srv.port
    srv.close()
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    assert time.monotonic() - started < 0.5


def test_port_in_use_fails_start() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        srv = FastAgiServer("127.0.0.1", holder.getsockname()[1], 300, Answers(), fallback_variables)
        with pytest.raises(OSError):
            srv.start()
    finally:
        holder.close()
