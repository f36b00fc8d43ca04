"""The simulator's func_curl, HASH() and URIENCODE() behave as Asterisk 22's do, hazards included:
the bound, a half-sent answer parsed anyway, keys of an earlier answer left in place, refused and
malformed URLs, Getvar of a function over AMI."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from acd.sim import SimConfig, Simulator
from acd.sim.channel_functions import hash_write
from acd.sim.curl import fetch, hashcompat, read_option, uri_decode, uri_encode, write_option
from acd.sim.dialplan import separate_args
from tests.sim_helpers import AmiClient, Pairs, get
from tests.support.waiting import DEADLINE, until

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def test_uriencode_is_asterisks() -> None:
    # ast_uri_encode with ast_uri_http: letters, digits and -_.!~*'() stay, every other byte is %XX
    assert uri_encode("+1 555&x=%y") == "%2B1%20555%26x%3D%25y"
    assert uri_encode("a-b_c.d!e~f*g'h(i)") == "a-b_c.d!e~f*g'h(i)"
    assert uri_encode("é,\r\n") == "%C3%A9%2C%0D%0A"
    assert uri_decode("%2B1%20555%26x%3D%25y") == "+1 555&x=%y"
    assert uri_decode("a+b") == "a+b" and uri_decode("a+b", legacy=True) == "a b"
    assert uri_decode("100%") == "100%"  # a lone % stays


def test_hashcompat_splits_decodes_and_escapes() -> None:
    values, fields = hashcompat("route=agent&prev=Alice%20Smith&note=a%2Cb&flag&end=1", legacy=False)
    assert fields == "route,prev,note,flag,end"
    assert values == "agent,Alice Smith,a\\,b,,1"
    assert separate_args(values) == ["agent", "Alice Smith", "a,b", "", "1"]


def test_separate_args_is_ast_app_separate_args() -> None:
    assert separate_args('a,b(c,d),[e,f],"g,h",i\\,j') == ["a", "b(c,d)", "[e,f]", "g,h", "i,j"]
    assert separate_args("") == [] and separate_args("a,") == ["a", ""]
    assert separate_args("x(,y,z") == ["x(,y,z"]  # an unbalanced parenthesis swallows the commas


def test_hash_assignment_follows_odbcfields() -> None:
    assert hash_write({}, "acd", "agent,1") == []  # no ~ODBCFIELDS~: Asterisk sets nothing
    variables = {"~ODBCFIELDS~": "route,end"}
    assert hash_write(variables, "acd", "agent,1") == [("~HASH~acd~route~", "agent"), ("~HASH~acd~end~", "1")]
    assert hash_write(variables, "acd", "") == [("~HASH~acd~route~", ""), ("~HASH~acd~end~", "")]
    assert hash_write({}, "acd,route", "queue") == [("~HASH~acd~route~", "queue")]


def test_curlopt_keeps_milliseconds_and_reads_back_as_asterisk() -> None:
    options: dict[str, str] = {}
    write_option(options, "httptimeout", "0.5")
    write_option(options, "conntimeout", "2")
    write_option(options, "hashcompat", "yes")
    assert options == {"httptimeout": "500", "conntimeout": "2000", "hashcompat": "yes"}
    assert read_option(options, "httptimeout") == "0.500" and read_option(options, "conntimeout") == "2"
    assert read_option(options, "proxy") is None
    with pytest.raises(ValueError, match="Unrecognized option"):
        write_option(options, "nosuch", "1")


@pytest.fixture
async def http() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def serve(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield serve
    for server in servers:
        server.close()


def reply(body: bytes, *, send: int | None = None) -> Handler:
    """An HTTP server answering ``body``; with ``send``, only that many body bytes, then silence."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        writer.write(head + body[: len(body) if send is None else send])
        await writer.drain()
        if send is not None:
            await asyncio.sleep(10)
        writer.close()

    return handle


async def test_fetch_within_the_bound(http: Callable[[Handler], Awaitable[int]]) -> None:
    port = await http(reply(b"route=agent&end=1\n"))
    result = await fetch(
        f"http://127.0.0.1:{port}/route?x=1", None, {"hashcompat": "yes", "httptimeout": "500"}
    )
    assert (result.value, result.fields, result.warning) == ("agent,1", "route,end", None)


async def test_half_sent_answer_is_parsed_after_the_timeout(
    http: Callable[[Handler], Awaitable[int]],
) -> None:
    port = await http(reply(b"route=agent&queue=acd-agent-1001&end=1", send=12))
    url = f"http://127.0.0.1:{port}/route?q=1"
    result = await fetch(url, None, {"hashcompat": "yes", "httptimeout": "300", "conntimeout": "300"})
    assert result.elapsed > 0.25  # the bound, not the server's 10 s of silence, ended it (below)
    assert (result.value, result.fields) == ("agent,", "route,")  # "route=agent&" arrived in time
    assert result.warning is not None and "timed out after" in result.warning and url in result.warning
    assert "with 12 bytes received" in result.warning


async def test_refused_fails_at_once_and_bad_urls_are_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = await fetch(f"http://127.0.0.1:{port}/route", None, {"httptimeout": "500"})
    assert refused.value == "" and refused.fields is None
    # at once: refused, not timed out after the 500 ms bound
    assert refused.warning is not None and "Failed to connect" in refused.warning
    assert "Could not connect to server" in refused.warning and "timed out" not in refused.warning
    spaced = await fetch(f"http://127.0.0.1:{port}/route?caller=555 1100", None, {})
    assert spaced.warning is not None and "bad/illegal format" in spaced.warning
    injected = await fetch("http://127.0.0.1:1/route\r\nX: y", None, {})
    assert injected.level == "ERROR" and "HTTP injection" in (injected.warning or "")
    named = await fetch("http://acd.example.com:8081/route", None, {})
    assert named.warning is not None and "Could not resolve host" in named.warning


async def _one_caller(sim: Simulator) -> AmiClient:
    """Start ``sim`` and send one caller into the dialplan's ``[in]`` context; the logged-in
    client sees what follows."""
    _host, ami = await sim.start()
    try:
        cli = await AmiClient.connect("127.0.0.1", ami)
        await cli.login()
        await cli.action(
            "Originate", Channel="Local/5551100@caller-sim", Context="in", Exten="5551100", Priority=1
        )
    except BaseException:
        await sim.stop()
        raise
    return cli


DIALPLAN = """
[in]
exten => _X.,1,Answer()
 same => n,Set(CURLOPT(httptimeout)=0.3)
 same => n,Set(CURLOPT(hashcompat)=yes)
 same => n,Set(HASH(acd,route)=agent)
 same => n,Set(HASH(acd)=${CURL(http://127.0.0.1:DOWN/zero?caller=${URIENCODE(${CALLERID(num)})})})
 same => n,UserEvent(Zero,Route: ${HASH(acd,route)})
 same => n,Set(HASH(acd)=${CURL(http://127.0.0.1:FULL/first)})
 same => n,UserEvent(First,Route: ${HASH(acd,route)},Wait: ${HASH(acd,wait)},End: ${HASH(acd,end)})
 same => n,Set(HASH(acd)=${CURL(http://127.0.0.1:HALF/second)})
 same => n,UserEvent(Second,Route: ${HASH(acd,route)},Wait: ${HASH(acd,wait)},End: ${HASH(acd,end)})
 same => n,ClearHash(acd)
 same => n,UserEvent(Cleared,Route: ${HASH(acd,route)},End: ${HASH(acd,end)},Opt: ${CURLOPT(httptimeout)})
 same => n,Hangup()
"""


async def test_dialplan_hazards_half_answers_and_stale_keys(
    tmp_path: Path, http: Callable[[Handler], Awaitable[int]]
) -> None:
    """Why acd-route clears HASH(acd) first and insists on end=1."""
    full = await http(reply(b"route=agent&wait=20&end=1"))
    half = await http(reply(b"route=queue&wait=0&end=1", send=12))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = s.getsockname()[1]
    plan = DIALPLAN.replace("DOWN", str(down)).replace("FULL", str(full)).replace("HALF", str(half))
    (tmp_path / "extensions.conf").write_text(plan)
    sim = Simulator(SimConfig(port=0, speed=0, traffic=False, dialplan=tmp_path / "extensions.conf", seed=3))
    cli = await _one_caller(sim)
    try:
        for _ in range(100):
            await sim.advance(0.1)
            await cli.read_for(0.02)
            if any(get(p, "UserEvent") == "Cleared" for p in cli.events("UserEvent")):
                break
        by = {get(p, "UserEvent"): p for p in cli.events("UserEvent")}
        assert get(by["Zero"], "Route") == "agent"  # a failed CURL() leaves an earlier key in place
        assert [get(by["First"], k) for k in ("Route", "Wait", "End")] == ["agent", "20", "1"]
        # half an answer ("route=queue&" before the timeout) is parsed, and the rest of the
        # earlier answer stays, end=1 included: only clearing first makes end=1 mean "complete"
        assert [get(by["Second"], k) for k in ("Route", "Wait", "End")] == ["queue", "20", "1"]
        assert [get(by["Cleared"], k) for k in ("Route", "End", "Opt")] == ["", "", "0.300"]
        warned = [text for level, text in sim.asterisk_log if level == "WARNING"]
        assert any(f"127.0.0.1:{down}/zero?caller=5551100" in w for w in warned)  # logged with its URL
        assert any(f"127.0.0.1:{half}/second" in w and "timed out" in w for w in warned)
    finally:
        await cli.close()
        await sim.stop()


async def test_getvar_runs_a_function_over_ami(http: Callable[[Handler], Awaitable[int]]) -> None:
    port = await http(reply(b"acd=ok&end=1"))
    sim = Simulator(SimConfig(port=0, speed=0, traffic=False, seed=3))
    _host, ami = await sim.start()
    cli = await AmiClient.connect("127.0.0.1", ami)
    try:
        await cli.login()
        answer = await cli.action("Getvar", Variable=f"CURL(http://127.0.0.1:{port}/ping)")
        assert get(answer, "Value") == "acd=ok&end=1"
        empty = await cli.action("Getvar", Variable="CURL(http://127.0.0.1:1/ping)")
        assert get(empty, "Value") == ""
    finally:
        await cli.close()
        await sim.stop()


SLOW_DIALPLAN = """
[in]
exten => _X.,1,Set(CURLOPT(httptimeout)=5)
 same => n,UserEvent(Asking)
 same => n,Set(answer=${CURL(http://127.0.0.1:SLOW/route)})
 same => n,UserEvent(Answered,Answer: ${answer})
 same => n,Hangup()
"""


async def test_at_full_speed_time_stands_still_while_a_channel_waits_on_curl(
    tmp_path: Path, http: Callable[[Handler], Awaitable[int]]
) -> None:
    """At speed inf the clock jumps from timer to timer; a lookup's wall-clock wait must not let a
    minute of simulated time pass (a busy machine did: the answer then came too late to be used)."""
    answered = asyncio.Event()
    sim: Simulator | None = None

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        assert sim is not None
        sim.sched.after(60.0, answered.set)  # something else is due a minute later
        sim.wake()
        await asyncio.sleep(0.2)  # the lookup takes its time, in wall seconds
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nroute=agt")
        await writer.drain()
        writer.close()

    port = await http(slow)
    (tmp_path / "extensions.conf").write_text(SLOW_DIALPLAN.replace("SLOW", str(port)))
    sim = Simulator(
        SimConfig(
            port=0,
            speed=float("inf"),
            traffic=False,
            start_epoch=1.8e9,
            seed=3,
            timestampevents=True,
            dialplan=tmp_path / "extensions.conf",
        )
    )
    cli = await _one_caller(sim)
    try:
        by: dict[str, Pairs] = {}
        deadline = time.monotonic() + DEADLINE
        while "Answered" not in by:
            assert time.monotonic() < deadline, "the dialplan never went on after the lookup"
            await cli.read_for(0.05)
            by = {get(p, "UserEvent"): p for p in cli.events("UserEvent")}
        await until(answered.is_set, what="the timer due a minute after the lookup began")
        assert get(by["Answered"], "Answer") == "route=agt"
        assert float(get(by["Answered"], "Timestamp")) == float(get(by["Asking"], "Timestamp"))
    finally:
        await cli.close()
        await sim.stop()
