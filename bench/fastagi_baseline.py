"""The FastAGI routing server acd shipped before the CURL() lookup: kept only as the benchmark's
baseline (bench/bench_lookup.py), answering with the same decisions as the lookup.

Why it went: once Asterisk has connected to a FastAGI server it waits for the script without a
bound, so a frozen acd (SIGSTOP, a paused VM) held callers in silence; the lookup is bounded by
Asterisk itself (CURLOPT httptimeout). Its original description follows.

FastAGI edge: answers Asterisk's "where to?" from a thread of its own, always within a deadline.

Why a thread with its own event loop: once Asterisk has connected to a FastAGI server it waits for
the script indefinitely, so a daemon whose main loop is blocked (a slow database call, a burst of
events, a bug) would hold callers in silence. This server never touches the daemon's loop: it
reads an immutable snapshot through the ``answer`` callable, run in a small worker pool and
abandoned when it is late. Whatever happens, by ``deadline_ms`` (wall clock) the caller has
either the decision or the fallback ("no preference": the shared queue), and the connection is
closed. A wholly hung process is the systemd watchdog's (``WatchdogSec``); a refused connection
(acd down) makes Asterisk set ``AGISTATUS=FAILURE`` and go on with the dialplan at once.

Protocol (tests/fixtures/ami/fastagi_request.txt, aux/fastagi_session.txt): Asterisk sends
``agi_<name>: <value>`` lines ended by an empty line; the server sends one command per line
(``SET VARIABLE NAME "value"``) and reads Asterisk's ``200 result=...`` answer before the next.
``HANGUP`` or any non-200 answer ends the dialogue. The server never sends ``200 result=``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import structlog

from acd.core.commands import Command, LookupAnswered
from acd.routing.answer import FIELDS, LookupRequest
from acd.routing.service import RoutingService

__all__ = [
    "AgiProtocolError",
    "AgiRequest",
    "FastAgiServer",
    "FastAgiStats",
    "Reply",
    "Variables",
    "format_set_variable",
    "parse_request",
]

log = structlog.get_logger("bench.fastagi_baseline")

Variables = Sequence[tuple[str, str]]
MAX_REQUEST_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Reply:
    """What to set on the channel, and what the caller of the server wants back once it was set."""

    variables: Variables
    note: object = None


class AgiProtocolError(ValueError):
    """The request is not an AGI environment block."""


@dataclass(frozen=True, slots=True)
class AgiRequest:
    env: Mapping[str, str]
    script: str  # path of agi_network_script, without the query ("route")
    params: Mapping[str, str]  # the query string of the AGI URL
    args: tuple[str, ...]  # agi_arg_1, agi_arg_2, ...

    def get(self, name: str, default: str = "") -> str:
        return self.env.get(name, default)

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    @property
    def channel(self) -> str:
        return self.env.get("agi_channel", "")

    @property
    def callerid(self) -> str:
        return self.env.get("agi_callerid", "")


def parse_request(data: bytes | str) -> AgiRequest:
    """The AGI environment (``agi_x: value`` lines, up to the first empty line)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    env: dict[str, str] = {}
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        if not line:
            if env:
                break
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.startswith("agi_"):
            raise AgiProtocolError(f"not an AGI environment line: {line[:60]!r}")
        env[name.strip()] = value[1:] if value.startswith(" ") else value
    if "agi_request" not in env and "agi_network_script" not in env:
        raise AgiProtocolError("no agi_request / agi_network_script in the request")
    script_url = env.get("agi_network_script") or urlsplit(env.get("agi_request", "")).path.lstrip("/")
    path, _, query = script_url.partition("?")
    args = []
    n = 1
    while f"agi_arg_{n}" in env:
        args.append(env[f"agi_arg_{n}"])
        n += 1
    return AgiRequest(env, path.strip("/"), dict(parse_qsl(query)), tuple(args))


def format_set_variable(name: str, value: str) -> bytes:
    """``SET VARIABLE NAME "value"``: quotes and backslashes escaped, line breaks dropped."""
    if not name or any(c in name for c in ' "\\\r\n'):
        raise ValueError(f"bad variable name {name!r}")
    clean = value.replace("\r", " ").replace("\n", " ").replace("\\", "\\\\").replace('"', '\\"')
    return f'SET VARIABLE {name} "{clean}"\n'.encode()


@dataclass(slots=True)
class FastAgiStats:
    answered: int = 0  # the decision was sent
    late: int = 0  # the decision missed its budget: the fallback was sent
    failed: int = 0  # the answer callable raised: the fallback was sent
    bad_requests: int = 0
    cut_short: int = 0  # Asterisk hung up or refused a command, or the deadline hit mid-dialogue
    latencies: list[float] = field(default_factory=list)  # seconds, accept to close, last 10000


class FastAgiServer:
    """Serve FastAGI on ``host:port`` from a dedicated thread. ``start()`` binds or raises OSError.

    ``answer(request)`` returns the :class:`Reply` to set (variables in order; put the one the
    dialplan branches on last). ``fallback(request, why)`` returns the "no preference" reply; it
    must not block. ``delivered(request, reply)`` is called (in the server thread) only when an
    ``answer`` reply was set in full, in time: a late decision, computed after its fallback went
    out, is never reported as made. None of them runs on the daemon's loop.
    """

    def __init__(
        self,
        host: str,
        port: int,
        deadline_ms: int,
        answer: Callable[[AgiRequest], Reply],
        fallback: Callable[[AgiRequest | None, str], Reply],
        *,
        delivered: Callable[[AgiRequest, Reply], None] | None = None,
        workers: int = 8,
        reserve_fraction: float = 0.2,
    ) -> None:
        self.host = host
        self.port = port
        self.deadline = deadline_ms / 1000.0
        self.budget = self.deadline * (1.0 - reserve_fraction)  # for the decision; the rest to send
        self._answer = answer
        self._fallback = fallback
        self._delivered = delivered
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acd-agi-decide")
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._stop: asyncio.Event | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.stats = FastAgiStats()

    # -- lifecycle (called from any thread) --------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="acd-fastagi", daemon=True
        )
        self._thread.start()
        ready.wait(10.0)
        if failure:
            self._thread.join(2.0)
            raise failure[0]

    def close(self, timeout: float = 2.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the server thread -------------------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # bind errors go back to start(); nothing else escapes
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, self.host, self.port, backlog=256)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        log.info("fastagi_listening", host=self.host, port=self.port, deadline_ms=int(self.deadline * 1000))
        try:
            await self._stop.wait()
        finally:
            server.close()
            await server.wait_closed()
            # Connections still being answered are ended here, while the loop runs: left pending,
            # they would be finalised after loop.close() and fail there.
            handlers = list(self._handlers)
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        started = time.monotonic()
        deadline = started + self.deadline
        request: AgiRequest | None = None
        try:
            request = await asyncio.wait_for(self._read_request(reader), self.budget)
        except (TimeoutError, AgiProtocolError, ConnectionError, asyncio.IncompleteReadError) as exc:
            self.stats.bad_requests += 1
            log.warning("fastagi_bad_request", error=type(exc).__name__)
        reply: Reply | None = None
        decided = False
        if request is not None:
            reply, decided = await self._decide(request, started)
        try:
            sent = await asyncio.wait_for(
                self._send(reader, writer, reply.variables if reply else ()),
                max(0.0, deadline - time.monotonic()),
            )
            if sent and decided and request is not None and reply is not None and self._delivered:
                try:
                    self._delivered(request, reply)
                except Exception as exc:
                    log.error("fastagi_delivered_failed", error=repr(exc))
        except (TimeoutError, ConnectionError):
            self.stats.cut_short += 1
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            lat = self.stats.latencies
            lat.append(time.monotonic() - started)
            if len(lat) > 10000:
                del lat[:5000]

    async def _read_request(self, reader: asyncio.StreamReader) -> AgiRequest:
        lines: list[bytes] = []
        size = 0
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("closed before the end of the AGI environment")
            size += len(line)
            if size > MAX_REQUEST_BYTES:
                raise AgiProtocolError("AGI environment too large")
            if line.strip() == b"":
                if lines:
                    return parse_request(b"".join(lines))
                continue
            lines.append(line)

    async def _decide(self, request: AgiRequest, started: float) -> tuple[Reply, bool]:
        """The answer's reply and True, or the fallback's and False."""
        loop = asyncio.get_running_loop()
        left = self.budget - (time.monotonic() - started)
        try:
            future = loop.run_in_executor(self._pool, self._answer, request)
            reply = await asyncio.wait_for(future, max(0.0, left))
            self.stats.answered += 1
            return reply, True
        except TimeoutError:
            self.stats.late += 1
            log.warning("fastagi_late", uniqueid=request.uniqueid, budget_ms=int(self.budget * 1000))
            return self._fallback(request, "late"), False
        except Exception as exc:
            self.stats.failed += 1
            log.error("fastagi_answer_failed", uniqueid=request.uniqueid, error=repr(exc))
            return self._fallback(request, "error"), False

    async def _send(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, variables: Variables
    ) -> bool:
        """Set each variable, waiting for Asterisk's answer; True when all were accepted."""
        for name, value in variables:
            writer.write(format_set_variable(name, value))
            await writer.drain()
            answer = await reader.readline()
            if not answer.startswith(b"200"):
                # HANGUP (the caller left), 511 (dead channel), 520 (syntax) or EOF: stop talking.
                self.stats.cut_short += 1
                return False
        return True


# -- the baseline's answers: the lookup's decisions, as FastAGI variables ------------------------------


def lookup_answers(
    service: RoutingService, put: Callable[[Command], None]
) -> tuple[Callable[[AgiRequest], Reply], Callable[[AgiRequest, Reply], None]]:
    """(answer, delivered) for :class:`FastAgiServer`: the same decision the lookup makes, set as
    the ACD_* variables (``ACD_ROUTE`` last); its command handed over once it was set in full."""
    names = dict(FIELDS)

    def answer(request: AgiRequest) -> Reply:
        lookup = LookupRequest(
            "/route",
            queue=request.params.get("queue") or (request.args[0] if request.args else ""),
            caller=request.callerid,
            account=request.args[1] if len(request.args) > 1 else "",
            uniqueid=request.uniqueid,
        )
        reply = service.answer(lookup)
        pairs = [p.partition("=") for p in reply.body.split("&")]
        variables = [(names[k], unquote(v)) for k, _, v in pairs if k in names and k != "route"]
        variables.append(("ACD_ROUTE", unquote(next((v for k, _, v in pairs if k == "route"), "queue"))))
        return Reply(variables, reply.command)

    def delivered(request: AgiRequest, reply: Reply) -> None:
        if isinstance(reply.note, LookupAnswered):
            put(reply.note)

    return answer, delivered


def fallback_variables(request: AgiRequest | None, why: str) -> Reply:
    """No preference: the shared queue, as plain Asterisk would do."""
    return Reply((("ACD_REASON", why), ("ACD_ROUTE", "queue")))
