"""``acd check``: the preflight an operator runs before enabling the service.

Each check gives one line with a verdict: OK, WARN (works, but look at it) or FAIL (the daemon
would not work as configured). The analysis is pure (functions over what was observed); the I/O
is a short-lived AMI session over a plain asyncio stream with acd's own codec, a database probe,
and two port binds. A preflight connection needs none of the daemon's reconnect machinery.

What the manager user may do (AMI classes):
- write classes come from ``ListCommands``: Asterisk lists exactly the actions the user's write
  classes allow, each with its ``(Priv: ...)`` classes. An action listed with a single class proves
  that class is granted, which is how a broader-than-needed grant is spotted.
- read classes cannot be asked for; they are inferred from what arrives: ``FullyBooted`` after the
  login means ``system``, a ``UserEvent`` acd sent itself coming back means ``user``, and any event
  whose ``Privilege`` names ``agent`` or ``call`` proves those. What did not show up within the
  observation window is reported as unverified (normal for ``agent``/``call`` on an idle PBX).
- ``timestampevents`` is inferred from a broadcast event's ``Timestamp`` header. Not from ``Ping``
  (its response carries ``Timestamp`` whether the option is on or off) and not from the login's
  ``FullyBooted`` (Asterisk writes that one straight to the session, without a timestamp). Off is
  a WARN (a FAIL with ``ACD_AMI__REQUIRE_TIMESTAMPS=true``): acd then times events when it reads
  them, so a stall in acd shifts every wait and talk time read after it.
- the routing lookup is verified from Asterisk's side: ``Getvar`` of
  ``CURL(http://<lookup>/ping)`` makes Asterisk itself fetch acd's ``/ping`` (``write=reporting``
  suffices). It proves func_curl is loaded and that Asterisk reaches the lookup's address; while
  acd is stopped the check answers on the lookup port itself for the duration.

:data:`WRITE_NEEDS` is the one table of which actions each feature sends; keep it in step when a
feature starts sending a new action, and deploy/asterisk's manager.conf with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from acd.ami.codec import BANNER_PREFIX, Framer, encode_message
from acd.asterisk_config import ConfigInputError, lookup_base, lookup_url_host
from acd.ports import bind_problem
from acd.queuelog.check import check_queue_log, mark_queue_log
from acd.routing.answer import PING_BODY
from acd.settings import ConfigError, Settings, load_settings, require_ami_secret, shown_url

__all__ = [
    "READ_NEEDS",
    "WRITE_NEEDS",
    "AmiObservation",
    "CheckResult",
    "Need",
    "Verdict",
    "analyse_ami",
    "check_port",
    "enabled_features",
    "exit_code",
    "parse_list_commands",
    "run_checks",
]

Verdict = Literal["OK", "WARN", "FAIL"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    verdict: Verdict
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Need:
    """An AMI action a feature sends, and the classes Asterisk accepts for it (any one suffices)."""

    feature: str
    action: str
    classes: frozenset[str]  # empty: Asterisk allows it to every logged-in user
    why: str
    recommended: str  # the narrowest class to grant for it ("" when none is needed)


WRITE_NEEDS: tuple[Need, ...] = (
    Need("monitoring", "Ping", frozenset(), "keep-alive that detects a silent Asterisk", ""),
    Need("monitoring", "QueueStatus", frozenset(), "resync of queues and members", ""),
    Need(
        "monitoring",
        "Getvar",
        frozenset({"call", "reporting"}),
        "acd check: Asterisk's CURL() reaches acd's routing lookup",
        "reporting",
    ),
    Need(
        "monitoring",
        "CoreShowChannels",
        frozenset({"system", "reporting"}),
        "resync of the calls in progress",
        "reporting",
    ),
    Need("affinity", "QueueAdd", frozenset({"agent"}), "keep personal queues in step with logins", "agent"),
    Need("affinity", "QueueRemove", frozenset({"agent"}), "keep personal queues in step", "agent"),
    Need("affinity", "QueuePause", frozenset({"agent"}), "keep personal queues in step with pauses", "agent"),
    Need("affinity", "UserEvent", frozenset({"user"}), "tell the fallback agent who had the call", "user"),
    Need(
        "affinity",
        "QueueWithdrawCaller",
        frozenset({"agent"}),
        "one ring of the original agent, then the shared queue",
        "agent",
    ),
)

# Read classes acd needs and what it loses without each.
READ_NEEDS: Mapping[str, str] = {
    "system": "FullyBooted/Shutdown: resync after every (re)connect and Asterisk restart",
    "agent": "queue and member events: offered, answered, abandoned, agent states",
    "call": "Hangup causes and bridges: who ended a call, cut-offs",
    "user": "UserEvents from the dialplan (AcdRouted confirms a routing answer, CallOutcome)",
}

# Every class Asterisk knows (manager.c perms[]), to tell a class name from a synopsis word.
KNOWN_CLASSES = frozenset(
    {
        "system",
        "call",
        "log",
        "verbose",
        "command",
        "agent",
        "user",
        "config",
        "dtmf",
        "reporting",
        "cdr",
        "dialplan",
        "originate",
        "agi",
        "cc",
        "aoc",
        "test",
        "security",
        "message",
    }
)

_PRIV = re.compile(r"\(Priv:\s*([^)]*)\)\s*$")


def enabled_features(settings: Settings) -> list[str]:
    """Features whose AMI actions must be allowed: monitoring always, affinity when any queue has it."""
    features = ["monitoring"]
    affinity = settings.queue_defaults.affinity or any(
        settings.queue(name).affinity for name in settings.queues
    )
    if affinity:
        features.append("affinity")
    return features


def parse_list_commands(response: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """``ListCommands`` answer -> {action (lower case): its classes}; ``<none>`` gives an empty set.

    Asterisk writes one ``Action: synopsis (Priv: class,class,all)`` header per action the user may
    send; ``all`` is a mask, not a class, and is dropped.
    """
    allowed: dict[str, frozenset[str]] = {}
    for key, value in response.items():
        match = _PRIV.search(value)
        if match is None or key in ("Response", "ActionID", "Message"):
            continue
        classes = frozenset(
            c.strip().lower() for c in match.group(1).split(",") if c.strip().lower() in KNOWN_CLASSES
        )
        allowed[key.lower()] = classes
    return allowed


def granted_write_classes(allowed: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """Classes certainly granted: those of listed actions that need exactly one class."""
    return frozenset(next(iter(c)) for c in allowed.values() if len(c) == 1)


@dataclass
class AmiObservation:
    """What one short AMI session saw; :func:`analyse_ami` turns it into verdicts."""

    address: str
    username: str
    banner: str | None = None
    connect_error: str | None = None
    login_error: str | None = None
    list_commands: dict[str, str] | None = None
    list_commands_error: str | None = None
    userevent_sent: bool = False
    userevent_echoed: bool = False
    queue_log_marker: str | None = None  # a QueueLog line Asterisk accepted (acd.queuelog.check)
    events: list[dict[str, str]] = field(default_factory=list)
    observed_seconds: float = 0.0
    lookup_url: str = ""
    lookup_answer: dict[str, str] | None = None  # Getvar's response for CURL(lookup_url)
    lookup_error: str | None = None


def _event_classes(event: Mapping[str, str]) -> frozenset[str]:
    privilege = event.get("Privilege", "")
    return frozenset(c for c in privilege.split(",") if c and c != "all")


def _write_results(obs: AmiObservation, features: Sequence[str]) -> list[CheckResult]:
    if obs.list_commands is None:
        return [CheckResult("ami.write", "FAIL", f"ListCommands failed: {obs.list_commands_error}")]
    allowed = parse_list_commands(obs.list_commands)
    results = []
    recommended: set[str] = set()
    for feature in features:
        needs = [n for n in WRITE_NEEDS if n.feature == feature]
        recommended |= {n.recommended for n in needs if n.recommended}
        missing = [n for n in needs if n.action.lower() not in allowed]
        if missing:
            text = "; ".join(
                f"{n.action} denied (needs write={'|'.join(sorted(n.classes))}: {n.why})" for n in missing
            )
            results.append(CheckResult(f"ami.write.{feature}", "FAIL", text))
        else:
            results.append(
                CheckResult(f"ami.write.{feature}", "OK", "allowed: " + ", ".join(n.action for n in needs))
            )
    extra = sorted(granted_write_classes(allowed) - recommended)
    least = ",".join(sorted(recommended)) or "none"
    if extra:
        results.append(
            CheckResult(
                "ami.write.extra",
                "WARN",
                f"write classes granted but not needed: {','.join(extra)} (least privilege: write={least})",
            )
        )
    else:
        results.append(CheckResult("ami.write.extra", "OK", f"no write class beyond write={least}"))
    return results


def _read_results(obs: AmiObservation) -> list[CheckResult]:
    seen: set[str] = set()
    for event in obs.events:
        seen |= _event_classes(event)
    if any(e.get("Event") == "FullyBooted" for e in obs.events):
        seen.add("system")
    if obs.userevent_echoed:
        seen.add("user")
    window = f"{obs.observed_seconds:.1f} s"
    results = []
    for cls, why in READ_NEEDS.items():
        name = f"ami.read.{cls}"
        if cls in seen:
            results.append(CheckResult(name, "OK", "verified (" + _evidence(cls, obs) + ")"))
        elif cls == "system":
            results.append(
                CheckResult(
                    name,
                    "FAIL",
                    "no FullyBooted after login: the user lacks read=system, or Asterisk is still "
                    f"booting; acd needs it for {why}",
                )
            )
        elif cls == "user" and not obs.userevent_sent:
            results.append(CheckResult(name, "WARN", f"unverified (cannot send UserEvent to test it); {why}"))
        elif cls == "user":
            results.append(
                CheckResult(name, "WARN", f"own UserEvent did not come back in {window}: read=user missing")
            )
        else:
            results.append(
                CheckResult(
                    name, "WARN", f"unverified: no {cls} event in {window} (normal on an idle PBX); {why}"
                )
            )
    extra = sorted(seen - set(READ_NEEDS))
    if extra:
        results.append(
            CheckResult(
                "ami.read.extra",
                "WARN",
                f"events of classes acd does not need arrive: {','.join(extra)} "
                f"(least privilege: read={','.join(READ_NEEDS)}; dialplan is most of AMI's traffic)",
            )
        )
    else:
        results.append(
            CheckResult("ami.read.extra", "OK", f"no event class beyond read={','.join(READ_NEEDS)}")
        )
    return results


def _evidence(cls: str, obs: AmiObservation) -> str:
    if cls == "system" and any(e.get("Event") == "FullyBooted" for e in obs.events):
        return "FullyBooted received"
    if cls == "user" and obs.userevent_echoed:
        return "own UserEvent came back"
    for event in obs.events:
        if cls in _event_classes(event):
            return f"{event.get('Event', 'event')} received"
    return "seen"


def _timestamp_result(obs: AmiObservation, settings: Settings) -> CheckResult:
    # The login's FullyBooted is written directly to the session and never carries Timestamp.
    broadcast = [e for e in obs.events if "Privilege" in e and e.get("Event") != "FullyBooted"]
    if not broadcast:
        return CheckResult(
            "ami.timestampevents",
            "WARN",
            "unknown: no broadcast event arrived to tell (acd works with either)",
        )
    if any("Timestamp" in e for e in broadcast):
        return CheckResult("ami.timestampevents", "OK", "on: event times come from Asterisk's clock")
    verdict: Verdict = "FAIL" if settings.ami.require_timestamps else "WARN"
    return CheckResult(
        "ami.timestampevents",
        verdict,
        "off: acd times events when it reads them, so a stall in acd (a paused VM, a swap storm) "
        "shifts waits and talk times; set timestampevents = yes in manager.conf [general]"
        + (f" (ACD_SPEED={settings.speed} needs it too)" if settings.speed != 1.0 else ""),
    )


def analyse_ami(obs: AmiObservation, settings: Settings) -> list[CheckResult]:
    """Verdicts for one AMI session. Checks that depend on an earlier failure are left out."""
    if obs.connect_error is not None:
        return [CheckResult("ami.connect", "FAIL", f"{obs.address}: {obs.connect_error}")]
    if obs.banner is None or not obs.banner.startswith(BANNER_PREFIX):
        return [CheckResult("ami.connect", "FAIL", f"{obs.address} is not AMI (first line {obs.banner!r})")]
    results = [CheckResult("ami.connect", "OK", f"{obs.address}: {obs.banner}")]
    if obs.login_error is not None:
        results.append(CheckResult("ami.login", "FAIL", f"user {obs.username!r}: {obs.login_error}"))
        return results
    results.append(CheckResult("ami.login", "OK", f"user {obs.username!r} logged in"))
    results += _write_results(obs, enabled_features(settings))
    results += _read_results(obs)
    results.append(_timestamp_result(obs, settings))
    results.append(_lookup_result(obs))
    return results


def _lookup_result(obs: AmiObservation) -> CheckResult:
    name = "routing.curl"
    if obs.lookup_answer is None:
        return CheckResult(name, "WARN", f"not verified ({obs.lookup_error or 'no Getvar answer'})")
    answer = obs.lookup_answer
    if answer.get("Response") != "Success":
        why = answer.get("Message", "refused")
        return CheckResult(name, "WARN", f"not verified: Getvar {why} (needs write=reporting or call)")
    if answer.get("Value", "") == PING_BODY:
        return CheckResult(name, "OK", f"Asterisk's CURL() reached {obs.lookup_url}")
    return CheckResult(
        name,
        "FAIL",
        f"Asterisk's CURL({obs.lookup_url}) returned {answer.get('Value', '')[:60]!r}: func_curl is not "
        "loaded (module load func_curl.so) or Asterisk cannot reach acd's lookup there; without it "
        "every caller goes to the shared queue",
    )


# ---------------------------------------------------------------------------------------------
# I/O: the AMI session
# ---------------------------------------------------------------------------------------------


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
            classes |= _event_classes(event)
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


# ---------------------------------------------------------------------------------------------
# I/O: database and ports
# ---------------------------------------------------------------------------------------------


async def check_database(settings: Settings) -> CheckResult:
    url = settings.database.url
    shown = shown_url(url)
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception as err:
        return CheckResult("database", "FAIL", f"ACD_DATABASE__URL is not a URL ({type(err).__name__})")
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path and path != ":memory:" and not Path(path).exists():
            parent = Path(path).resolve().parent
            if not parent.is_dir():
                return CheckResult("database", "FAIL", f"{shown}: directory {parent} does not exist")
            probe = parent / f".acd-check-{uuid.uuid4().hex[:8]}"
            try:
                probe.touch()
                probe.unlink()
            except OSError as err:
                return CheckResult("database", "FAIL", f"{shown}: cannot write in {parent} ({err.strerror})")
            return CheckResult(
                "database", "OK", f"{shown}: not there yet; created and migrated at first start"
            )
    from acd.store.engine import make_engine
    from acd.store.migrate import schema_state

    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # Read-only: a preflight run as root must not leave root-owned -wal/-shm files behind in
        # the service's state directory, nor change anything in the database. Without a -wal file
        # nobody is writing (acd's WAL is removed on a clean close), so the file is opened as
        # immutable, which creates no side files; with one, plain read-only mode reads the WAL.
        from sqlalchemy.ext.asyncio import create_async_engine

        target = Path(str(parsed.database)).resolve()
        mode = "mode=ro" if Path(f"{target}-wal").exists() else "mode=ro&immutable=1"
        engine = create_async_engine(f"sqlite+aiosqlite:///file:{target}?{mode}&uri=true")
    else:
        engine = make_engine(url)
    try:
        state = await asyncio.wait_for(schema_state(engine), 15)
    except Exception as err:
        return CheckResult("database", "FAIL", f"{shown}: cannot connect ({_db_error(err)})")
    finally:
        await engine.dispose()
    if state.status == "current":
        return CheckResult("database", "OK", f"{shown}: schema at the current revision {state.head}")
    if state.status == "empty":
        return CheckResult("database", "OK", f"{shown}: empty; migrated automatically at first start")
    if state.status == "older":
        return CheckResult(
            "database",
            "FAIL",
            f"{shown}: schema at {state.current}, older than {state.head}: back up, then `acd db upgrade`",
        )
    if state.status == "newer":
        return CheckResult(
            "database", "FAIL", f"{shown}: schema at {state.current}, newer than this acd ({state.head})"
        )
    return CheckResult("database", "FAIL", f"{shown}: acd tables without a schema version")


def _db_error(err: BaseException) -> str:
    from acd.logs import redact_text

    text = str(getattr(err, "orig", None) or err) or type(err).__name__
    return redact_text(" ".join(text.split()))[:200]


def check_port(name: str, host: str, port: int) -> CheckResult:
    """Can the daemon bind ``host:port``? Binds and releases it at once, as the daemon would bind it."""
    if port == 0:
        return CheckResult(name, "OK", f"{host}:0: the daemon picks a free port")
    why = bind_problem(host, port)
    if why is not None:
        return CheckResult(name, "FAIL", f"{host}:{port}: {why}")
    if port < 1024:
        return CheckResult(
            name, "FAIL", f"{host}:{port}: below 1024, the service (no capabilities) cannot bind it"
        )
    return CheckResult(name, "OK", f"{host}:{port} is free")


# ---------------------------------------------------------------------------------------------
# All together
# ---------------------------------------------------------------------------------------------


def check_config(load: Callable[[], Settings] = load_settings) -> tuple[Settings | None, CheckResult]:
    try:
        settings = load()
        require_ami_secret(settings)
    except ConfigError as err:
        return None, CheckResult("config", "FAIL", str(err))
    ami = settings.ami
    return settings, CheckResult(
        "config",
        "OK",
        f"valid (AMI {ami.username}@{ami.host}:{ami.port}, database {shown_url(settings.database.url)})",
    )


async def run_checks(settings: Settings, observe_seconds: float = 1.0) -> list[CheckResult]:
    """Every check after the configuration one, in the order they are printed."""
    obs = await observe_ami(settings, observe_seconds)
    results = analyse_ami(obs, settings)
    results.append(await check_queue_log(settings, obs))
    results.append(await check_database(settings))
    results.append(check_port("http.port", settings.http.host, settings.http.port))
    results.append(check_port("routing.port", settings.routing.host, settings.routing.port))
    return results


def exit_code(results: Iterable[CheckResult]) -> int:
    return 1 if any(r.verdict == "FAIL" for r in results) else 0


def to_json(results: Sequence[CheckResult]) -> dict[str, Any]:
    return {"ok": exit_code(results) == 0, "checks": [r.as_dict() for r in results]}
