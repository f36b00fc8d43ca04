"""The I/O of ``acd check``'s AMI items: one short session (connect, log in, list commands, echo a
UserEvent, have Asterisk CURL() acd's lookup, append a queue_log line, watch events, log off) over a
plain asyncio stream with acd's own codec. It records what it saw in an
:class:`~acd.preflight.ami_verdicts.AmiObservation`; the verdicts are drawn elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import uuid
from collections.abc import Callable, Mapping

from acd.ami.codec import BANNER_PREFIX, Framer, encode_message
from acd.asterisk_config import ConfigInputError, lookup_base, lookup_url_host
from acd.preflight.ami_verdicts import AmiObservation
from acd.preflight.grants import event_classes, parse_list_commands
from acd.preflight.queue_log import mark_queue_log
from acd.routing.answer import PING_BODY
from acd.settings import Settings

__all__ = ["observe_ami"]


class _Closed(Exception):
    pass


class _AmiSession:
    """Just enough AMI for a preflight: send an action, wait for its response, keep the events."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_bytes: int) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = Framer(max_message_bytes=max_bytes, expect_banner=False)
        self.responses: dict[str, dict[str, str]] = {}
        self.events: list[dict[str, str]] = []
        self._ids = 0
        self.prefix = f"acdcheck-{uuid.uuid4().hex[:8]}-"

    async def _read_more(self) -> None:
        data = await self.reader.read(65536)
        if not data:
            raise _Closed("Asterisk closed the connection")
        for msg in self.framer.feed(data):
            if "Event" in msg:
                self.events.append(msg)
            elif "Response" in msg:
                self.responses[msg.get("ActionID", "")] = msg

    async def banner(self, timeout: float) -> str:
        """The first line: ``Asterisk Call Manager/<version>`` from a real AMI."""
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            raise _Closed("closed before sending a banner")
        return line.decode("utf-8", "replace").rstrip("\r\n")

    async def action(self, headers: Mapping[str, str], timeout: float) -> dict[str, str]:
        self._ids += 1
        action_id = f"{self.prefix}{self._ids}"
        self.writer.write(encode_message({**headers, "ActionID": action_id}))
        await self.writer.drain()

        async def wait() -> dict[str, str]:
            while action_id not in self.responses:
                await self._read_more()
            return self.responses.pop(action_id)

        return await asyncio.wait_for(wait(), timeout)

    async def observe(self, seconds: float, done: Callable[[], bool]) -> None:
        """Read events for up to ``seconds``, or until ``done()``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not done():
            left = deadline - loop.time()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self._read_more(), left)
            except TimeoutError:
                return

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


def _describe_os_error(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (is Asterisk running, manager.conf enabled=yes and this port?)"
    if isinstance(err, socket.gaierror):
        return f"cannot resolve host ({err.strerror})"
    if isinstance(err, ssl.SSLError):
        return f"TLS failed ({err.reason or err})"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err) or type(err).__name__


async def observe_ami(settings: Settings, observe_seconds: float = 1.0) -> AmiObservation:
    """Connect, log in, list commands, echo a UserEvent, have Asterisk CURL() acd's lookup, watch
    events briefly, log off."""
    ami = settings.ami
    obs = AmiObservation(address=f"{ami.host}:{ami.port}", username=ami.username)
    tls = ssl.create_default_context() if ami.tls else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ami.host, ami.port, ssl=tls),
            ami.connect_timeout,
        )
    except (OSError, TimeoutError) as err:
        obs.connect_error = _describe_os_error(err)
        return obs
    session = _AmiSession(reader, writer, ami.max_message_bytes)
    try:
        try:
            obs.banner = await session.banner(ami.connect_timeout)
        except (TimeoutError, _Closed, OSError) as err:
            obs.connect_error = f"no AMI banner ({_describe_os_error(err)})"
            return obs
        if not obs.banner.startswith(BANNER_PREFIX):
            return obs
        try:
            answer = await session.action(
                {
                    "Action": "Login",
                    "Username": ami.username,
                    "Secret": ami.secret.get_secret_value(),
                    "Events": "on",
                },
                ami.action_timeout,
            )
        except TimeoutError:
            obs.login_error = f"no answer to Login within {ami.action_timeout:g} s"
            return obs
        except (_Closed, OSError) as err:
            obs.login_error = f"connection lost during Login ({_describe_os_error(err)})"
            return obs
        if answer.get("Response") != "Success":
            obs.login_error = f"refused: {answer.get('Message', answer.get('Response', '?'))}"
            return obs
        await _probe_classes(session, obs, ami.action_timeout, observe_seconds)
        await _probe_lookup(session, obs, settings, ami.action_timeout)
        await mark_queue_log(session.action, obs, settings)
        obs.events = session.events
        with contextlib.suppress(Exception):
            await session.action({"Action": "Logoff"}, 1.0)
    finally:
        await session.close()
    return obs


async def _probe_classes(
    session: _AmiSession, obs: AmiObservation, timeout: float, observe_seconds: float
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        listed = await session.action({"Action": "ListCommands"}, timeout)
    except (TimeoutError, _Closed, OSError) as err:
        obs.list_commands_error = _describe_os_error(err)
        return
    if listed.get("Response") != "Success":
        obs.list_commands_error = listed.get("Message", "error")
    else:
        obs.list_commands = listed
    nonce = uuid.uuid4().hex
    if obs.list_commands is not None and "userevent" in parse_list_commands(obs.list_commands):
        with contextlib.suppress(TimeoutError, _Closed, OSError):
            sent = await session.action(
                {"Action": "UserEvent", "UserEvent": "AcdCheck", "AcdCheckNonce": nonce}, timeout
            )
            obs.userevent_sent = sent.get("Response") == "Success"

    def echoed() -> bool:
        return any(e.get("Event") == "UserEvent" and e.get("AcdCheckNonce") == nonce for e in session.events)

    def everything_seen() -> bool:
        classes: set[str] = set()
        for event in session.events:
            classes |= event_classes(event)
        booted = any(e.get("Event") == "FullyBooted" for e in session.events)
        return booted and (echoed() or not obs.userevent_sent) and {"agent", "call"} <= classes

    with contextlib.suppress(_Closed, OSError):
        await session.observe(observe_seconds, everything_seen)
    obs.userevent_echoed = echoed()
    obs.observed_seconds = loop.time() - started


async def _probe_lookup(
    session: _AmiSession, obs: AmiObservation, settings: Settings, timeout: float
) -> None:
    """Getvar CURL(<lookup>/ping): Asterisk fetches acd's /ping. While acd is stopped the port is
    free, so this check answers on it itself for the duration (it is the address that matters)."""
    from acd.routing.lookup import LookupServer, Reply

    routing = settings.routing
    server: LookupServer | None = LookupServer(
        routing.host,
        routing.port,
        lambda request: Reply(PING_BODY, "ping"),
        timeout=routing.timeout_seconds,
        workers=1,
        announce=False,
    )
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, server.start)  # type: ignore[union-attr]
    except OSError:
        server = None  # in use: acd is running and answers /ping itself
    port = server.port if server is not None else routing.port
    try:
        obs.lookup_url = f"{lookup_base(lookup_url_host(routing.host), port)}/ping"
        obs.lookup_answer = await session.action(
            {"Action": "Getvar", "Variable": f"CURL({obs.lookup_url})"}, timeout + routing.timeout_seconds
        )
    except ConfigInputError as err:
        obs.lookup_error = str(err)
    except (TimeoutError, _Closed, OSError) as err:
        obs.lookup_error = f"Getvar: {_describe_os_error(err)}"
    finally:
        if server is not None:
            await loop.run_in_executor(None, server.close)
