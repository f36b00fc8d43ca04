"""The dialplan interpreter: runs a caller's channel through extensions.conf, one priority at a
time, emitting the Newexten/VarSet lines Asterisk emits, and entering app_queue through ``acd.sim.app_queue``.

One asyncio task per call while it runs dialplan. Waits (Wait, Playback, MusicOnHold) are timers
in simulated time; FastAGI is a real TCP client with Asterisk's behaviour: a refused or
unreachable server gives ``AGISTATUS=FAILURE`` after at most the connect bound (2 s, wall time),
a connected server is waited for as long as it takes. ``CURL()`` is a real HTTP client with
func_curl's behaviour (acd/sim/curl.py), under the channel's ``CURLOPT()`` options, in wall time.

Channel functions (:class:`ChannelFunctions`): ``CURL``, ``CURLOPT``, ``HASH``, ``HASHKEYS``; the
writes ``Set(HASH(name,key)=v)``, ``Set(HASH(name)=v1,v2...)`` (keys from ``~ODBCFIELDS~``, as
func_strings' array() does) and ``Set(CURLOPT(option)=v)``; ``ClearHash(name)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from acd.sim import curl
from acd.sim.app_queue import enter_queue
from acd.sim.dialplan import Dialplan, DialplanError, Env, Line, separate_args, split_args, substitute
from acd.sim.dialplan_calls import dial_start, hangup_idle
from acd.sim.emit import Out, event
from acd.sim.entities import Call, Channel

if TYPE_CHECKING:
    from acd.sim.simulator import Simulator

AGI_CONNECT_TIMEOUT = 2.0
ODBCFIELDS = "~ODBCFIELDS~"
PLAYBACK_SECONDS = 1.0
SNAPSHOT = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)


class _Hangup(Exception):
    """The channel is gone (hung up, or bridged and ended): stop running dialplan."""


class Interpreter:
    def __init__(self, sim: Simulator, dialplan: Dialplan):
        self.sim = sim
        self.dp = dialplan
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.errors: list[str] = []

    # ---- entry points -----------------------------------------------------------------------
    def start(self, call: Call, context: str, exten: str, prio: int = 1) -> None:
        old = self.tasks.pop(call.ch1, None)
        if old is not None:
            old.cancel()
        call.interpreted = True
        task = asyncio.get_running_loop().create_task(self._run(call, context, exten, prio))
        self.tasks[call.ch1] = task
        ch1 = call.ch1
        task.add_done_callback(lambda t: self._done(ch1, t))

    def cancel(self, call: Call) -> None:
        task = self.tasks.pop(call.ch1, None)
        if task is not None:
            task.cancel()

    def _done(self, ch: str, task: asyncio.Task[None]) -> None:
        if self.tasks.get(ch) is task:
            del self.tasks[ch]

    def stop(self) -> None:
        for t in list(self.tasks.values()):
            t.cancel()
        self.tasks.clear()

    # ---- the walk ---------------------------------------------------------------------------
    async def _run(self, call: Call, context: str, exten: str, prio: int) -> None:
        pbx = self.sim.pbx
        try:
            while True:
                if call.state == "done" or call.ch1 not in pbx.channels:
                    return
                ext = self.dp.find(context, exten)
                line = ext.prios.get(prio) if ext is not None else None
                if line is None:
                    break  # end of dialplan: Asterisk hangs the channel up
                call.dp_context, call.dp_exten, call.dp_prio = context, exten, prio
                jump = await self._execute(call, line, context, exten, prio)
                if jump is None:
                    prio += 1
                else:
                    context, exten, prio = jump
        except _StopDialplan as stop:
            self._hangup(call, stop.cause)
            return
        except _Hangup:
            return
        except DialplanError as err:
            self.errors.append(str(err))
            self.sim.log_error(str(err))
        self._hangup(call)

    def _hangup(self, call: Call, cause: int = 16) -> None:
        if call.state in ("done", "bridged", "waiting", "ringing", "transferred"):
            return
        hangup_idle(self.sim.pbx, call, own_channel=True, cause=cause)

    def _env(self, call: Call) -> Env:
        ch = self.sim.pbx.channels[call.ch1]
        env = channel_env(self.sim, ch, lambda name, value: self._emit([self._varset(call, name, value)]))
        env.builtins = {**env.builtins, **self._call_builtins(call)}
        return env

    def _call_builtins(self, call: Call) -> dict[str, str]:
        return {
            "EXTEN": call.dp_exten,
            "CONTEXT": call.dp_context,
            "PRIORITY": str(call.dp_prio),
            "QUEUESTATUS": call.queuestatus,
            "QUEUE_PRIO": str(call.priority),
        }

    def snapshot(self, call: Call) -> list[tuple[str, object]]:
        ch = self.sim.pbx.channels[call.ch1]
        return list(
            zip(
                SNAPSHOT,
                (
                    ch.name,
                    6,
                    "Up",
                    ch.cid_num,
                    ch.cid_name,
                    ch.conn_num,
                    ch.conn_name,
                    "en",
                    "",
                    call.dp_context,
                    call.dp_exten,
                    call.dp_prio,
                    ch.uid,
                    ch.linkedid,
                ),
                strict=True,
            )
        )

    def _emit(self, outs: list[Out]) -> None:
        self.sim.broadcast(outs)

    def _varset(self, call: Call, name: str, value: str) -> Out:
        return event(
            "VarSet", "dialplan", [*self.snapshot(call), ("Variable", name), ("Value", value)], self.sim.ts()
        )

    async def _sleep(self, seconds: float, call: Call) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def fire() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.sim.sched.after(seconds, fire)
        self.sim.wake()
        try:
            await fut
        finally:
            timer.cancel()
        if call.state == "done" or call.ch1 not in self.sim.pbx.channels:
            raise _Hangup

    async def _execute(
        self, call: Call, line: Line, context: str, exten: str, prio: int
    ) -> tuple[str, str, int] | None:
        env = self._env(call)
        args = await substitute(line.args, env, line.where)
        if call.state == "done" or call.ch1 not in self.sim.pbx.channels:
            raise _Hangup  # the caller hung up while a function (CURL) was running
        ch = self.sim.pbx.channels[call.ch1]
        self._emit(
            [
                event(
                    "Newexten",
                    "dialplan",
                    [
                        *self.snapshot(call),
                        ("Extension", exten),
                        ("Application", line.app),
                        ("AppData", args),
                    ],
                    self.sim.ts(),
                )
            ]
        )
        app = line.app
        if app in ("Answer", "NoOp", "Verbose"):
            return None
        if app == "Set":
            name, eq, value = args.partition("=")
            if not eq:
                raise DialplanError(f"{line.where}: Set() needs name=value")
            self._set(call, ch, name.strip(), value, line)
            return None
        if app == "Goto":
            return self._target(args, context, exten, line)
        if app == "GotoIf":
            cond, q, rest = args.partition("?")
            if not q:
                raise DialplanError(f"{line.where}: GotoIf() needs condition?label1[:label2]")
            yes, _, no = rest.partition(":")
            dest = yes if cond.strip() not in ("", "0") else no
            return self._target(dest, context, exten, line) if dest.strip() else None
        if app == "Wait":
            await self._sleep(_seconds(args, line), call)
            return None
        if app == "Playback":
            await self._sleep(PLAYBACK_SECONDS, call)
            self._emit([self._varset(call, "PLAYBACKSTATUS", "SUCCESS")])
            return None
        if app == "MusicOnHold":
            parts = split_args(args)
            dur = parts[1].strip() if len(parts) > 1 else ""
            await self._sleep(float(dur) if dur else 10.0**9, call)
            return None
        if app == "UserEvent":
            parts = split_args(args)
            pairs: list[tuple[str, object]] = [*self.snapshot(call), ("UserEvent", parts[0].strip())]
            for p in parts[1:]:
                k, colon, v = p.partition(":")
                if not colon:
                    raise DialplanError(f"{line.where}: UserEvent field {p!r} is not 'Header: value'")
                pairs.append((k.strip(), v.strip()))
            self._emit([event("UserEvent", "user", pairs, self.sim.ts())])
            return None
        if app == "ClearHash":
            prefix = f"~HASH~{args.strip()}~"
            for name in [n for n in ch.variables if n.startswith(prefix)]:
                del ch.variables[name]
            return None
        if app == "Return":
            raise DialplanError(f"{line.where}: Return() without Gosub: the simulator runs no Gosub")
        if app == "Hangup":
            raise _StopDialplan(int(args) if args.strip().isdigit() else 16)
        if app == "Queue":
            await self._queue(call, args, line)
            return None
        if app == "Dial":
            status = await self._dial(call, args, line)
            ch.variables["DIALSTATUS"] = status
            self._emit([self._varset(call, "DIALSTATUS", status)])
            return None
        if app == "AGI":
            status = await self._agi(call, args, line)
            ch.variables["AGISTATUS"] = status
            self._emit([self._varset(call, "AGISTATUS", status)])
            return None
        raise DialplanError(f"{line.where}: application {app}() is not supported by the simulator")

    def _set(self, call: Call, ch: Channel, name: str, value: str, line: Line) -> None:
        dbm = re.fullmatch(r"DB\((.+)\)", name)
        if dbm:
            self.sim.pbx.db["/" + dbm.group(1).strip().strip("/")] = value
            return
        hm = re.fullmatch(r"HASH\((.+)\)", name)
        if hm:
            for var, val in hash_write(ch.variables, hm.group(1), value):
                ch.variables[var] = val
                self._emit([self._varset(call, var, val)])
            return
        cm = re.fullmatch(r"CURLOPT\((.+)\)", name)
        if cm:
            option = cm.group(1).strip().lower()
            if option in curl.SIMULATED or option not in curl.KNOWN:
                try:
                    curl.write_option(ch.curl_options, option, value)
                except curl.CurlOptionError as err:
                    self.sim.log_asterisk("ERROR", str(err))  # Asterisk logs it and goes on
                return
            raise DialplanError(f"{line.where}: CURLOPT({option}) is not simulated")
        if name == "CALLERID(num)":
            ch.cid_num = value
            call.number = value  # later events (QueueCallerJoin...) carry the new caller id
        elif name == "CALLERID(name)":
            ch.cid_name = value
            call.name = value
        elif name == "QUEUE_PRIO":
            try:
                call.priority = int(value or 0)
            except ValueError as err:
                raise DialplanError(f"{line.where}: QUEUE_PRIO must be a number, got {value!r}") from err
        elif "(" in name:
            raise DialplanError(
                f"{line.where}: Set({name}=...) writes a function the simulator does not support"
            )
        ch.variables[name] = value
        self._emit([self._varset(call, name, value)])

    def _target(self, dest: str, context: str, exten: str, line: Line) -> tuple[str, str, int]:
        parts = [p.strip() for p in dest.split(",")]
        if len(parts) == 1:
            ctx, ext, pr = context, exten, parts[0]
        elif len(parts) == 2:
            ctx, ext, pr = context, parts[0], parts[1]
        elif len(parts) == 3:
            ctx, ext, pr = parts
        else:
            raise DialplanError(f"{line.where}: bad Goto target {dest!r}")
        if pr.isdigit():
            return ctx, ext, int(pr)
        found = self.dp.find(ctx, ext)
        if found is None or pr not in found.labels:
            raise DialplanError(f"{line.where}: no label {pr!r} in {ctx},{ext}")
        return ctx, ext, found.labels[pr]

    # ---- Queue() ----------------------------------------------------------------------------
    async def _queue(self, call: Call, args: str, line: Line) -> None:
        parts = split_args(args)
        qname = parts[0].strip()
        options = parts[1].strip() if len(parts) > 1 else ""
        timeout_s = parts[4].strip() if len(parts) > 4 else ""
        pbx = self.sim.pbx
        if qname not in pbx.queues:
            raise DialplanError(f"{line.where}: Queue({qname}) names a queue not in queues.conf")
        call.queue_appdata = args
        call.no_retry, call.tries = "n" in option_letters(options), 0
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def done(status: str) -> None:
            if not fut.done():
                fut.set_result(status)

        call.on_leave = done
        timeout = float(timeout_s) if timeout_s else None
        status = enter_queue(pbx, call, qname, timeout)
        self.sim.wake()
        if status is None:
            status = await fut
        call.on_leave = None
        call.queuestatus = status
        ch = pbx.channels.get(call.ch1)
        if ch is None or status in ("HANGUP", "ANSWERED"):
            raise _Hangup
        ch.variables["QUEUESTATUS"] = status

    # ---- Dial() -----------------------------------------------------------------------------
    async def _dial(self, call: Call, args: str, line: Line) -> str:
        parts = split_args(args)
        dest = parts[0].strip()
        if "&" in dest or not re.fullmatch(r"Local/[^@/&]+@[^/&]+", dest):
            raise DialplanError(f"{line.where}: Dial({dest}) is simulated for one Local/exten@context only")
        timeout_s = parts[1].strip() if len(parts) > 1 else ""
        timeout = _seconds(timeout_s, line) if timeout_s else None
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def done(status: str) -> None:
            if not fut.done():
                fut.set_result(status)

        call.on_leave = done
        status = dial_start(self.sim.pbx, call, dest, timeout)
        self.sim.wake()
        if status is None:
            status = await fut
        call.on_leave = None
        if status == "HANGUP":
            raise _Hangup
        return status

    # ---- AGI() ------------------------------------------------------------------------------
    async def _agi(self, call: Call, args: str, line: Line) -> str:
        parts = split_args(args)
        url = parts[0].strip()
        u = urlsplit(url)
        if u.scheme != "agi":
            raise DialplanError(f"{line.where}: AGI({url}) is not FastAGI (agi://host:port/script)")
        host, port = u.hostname or "127.0.0.1", u.port or 4573
        script = u.path.lstrip("/") + (f"?{u.query}" if u.query else "")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), AGI_CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            return "FAILURE"
        ch = self.sim.pbx.channels[call.ch1]
        req = [
            ("agi_network", "yes"),
            ("agi_network_script", script),
            ("agi_request", url),
            ("agi_channel", ch.name),
            ("agi_language", "en"),
            ("agi_type", "Local"),
            ("agi_uniqueid", ch.uid),
            ("agi_version", "22.10.1"),
            ("agi_callerid", ch.cid_num),
            ("agi_calleridname", ch.cid_name),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", "unknown"),
            ("agi_rdnis", "unknown"),
            ("agi_context", call.dp_context),
            ("agi_extension", call.dp_exten),
            ("agi_priority", str(call.dp_prio)),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", ""),
            ("agi_threadid", str(140000000000000 + id(call) % 10**9)),
        ]
        req += [(f"agi_arg_{i}", a) for i, a in enumerate(parts[1:], 1)]
        status = "SUCCESS"
        try:
            writer.write(("".join(f"{k}: {v}\n" for k, v in req) + "\n").encode())
            while True:
                raw = await reader.readline()  # Asterisk waits for the script as long as it takes
                if not raw:
                    break
                cmd = raw.decode("utf-8", "replace").strip()
                if not cmd:
                    continue
                cid = str(random.randrange(10**8, 10**9))
                snap = self.snapshot(call)
                self._emit(
                    [
                        event(
                            "AGIExecStart",
                            "agi",
                            [*snap, ("CommandId", cid), ("Command", cmd)],
                            self.sim.ts(),
                        )
                    ]
                )
                reply, hang = await self._agi_command(call, cmd, line)
                writer.write((reply + "\n").encode())
                code = reply.split(" ", 1)[0]
                result = "Success" if code == "200" else "Failure"
                end = [*snap, ("CommandId", cid), ("Command", cmd), ("ResultCode", code), ("Result", result)]
                self._emit([event("AGIExecEnd", "agi", end, self.sim.ts())])
                if hang:
                    status = "HANGUP"
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        return status

    async def _agi_command(self, call: Call, cmd: str, line: Line) -> tuple[str, bool]:
        words = _agi_words(cmd)
        if not words:
            return "510 Invalid or unknown command", False
        verb = " ".join(w.upper() for w in words[:2])
        ch = self.sim.pbx.channels[call.ch1]
        if verb == "GET VARIABLE" and len(words) >= 3:
            env = self._env(call)
            name = words[2]
            if name in env.variables or name in env.builtins or "(" in name:
                try:
                    value = await substitute("${" + name + "}", env, line.where)
                except DialplanError:
                    return "200 result=0", False
                return f"200 result=1 ({value})", False
            return "200 result=0", False
        if verb == "GET FULL" and len(words) >= 4:
            try:
                value = await substitute(words[3], self._env(call), line.where)
            except DialplanError:
                return "200 result=0", False
            return f"200 result=1 ({value})", False
        if verb == "SET VARIABLE" and len(words) >= 4:
            try:
                self._set(call, ch, words[2], words[3], line)
            except DialplanError:
                return "200 result=0", False
            return "200 result=1", False
        first = words[0].upper()
        if first in ("VERBOSE", "NOOP"):
            return "200 result=1" if first == "VERBOSE" else "200 result=0", False
        if first == "ANSWER":
            return "200 result=0", False
        if first == "HANGUP":
            return "200 result=1", True
        return "510 Invalid or unknown command", False


def option_letters(options: str) -> str:
    """An application's option letters without their parenthesised arguments: ``tb(x^s^1(url))``
    is ``tb`` (an ``n`` inside the predial's URL is no ``n`` option)."""
    out = []
    depth = 0
    for ch in options:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def hash_write(variables: dict[str, str], spec: str, value: str) -> list[tuple[str, str]]:
    """The variables ``Set(HASH(spec)=value)`` sets (func_strings' hash_write and array()).

    ``HASH(name,key)=v`` sets one key. ``HASH(name)=v1,v2,...`` sets the keys ``~ODBCFIELDS~``
    names (left by the last CURL() in hashcompat mode, or a whole-hash read) to the values in
    order, a missing value to empty; without ``~ODBCFIELDS~`` it sets nothing at all, so keys of an
    earlier answer stay."""
    if "," in spec:
        name, key = separate_args(spec, limit=2) + [""] * (2 - len(separate_args(spec, limit=2)))
        return [(f"~HASH~{name}~{key}~", value)]
    fields = variables.get(ODBCFIELDS)
    if fields is None:
        return []
    keys = separate_args(fields)
    values = separate_args(value)
    return [(f"~HASH~{spec}~{k}~", values[i] if i < len(values) else "") for i, k in enumerate(keys)]


def hash_read(variables: dict[str, str], spec: str) -> tuple[str, str | None]:
    """``${HASH(name,key)}``; ``${HASH(name)}`` gives every value (and the new ``~ODBCFIELDS~``)."""
    args = separate_args(spec, limit=2)
    if len(args) == 2:
        return variables.get(f"~HASH~{args[0]}~{args[1]}~", ""), None
    keys = hash_keys(variables, spec)
    return ",".join(variables[f"~HASH~{spec}~{k}~"] for k in keys), ",".join(keys)


def hash_keys(variables: dict[str, str], name: str) -> list[str]:
    prefix = f"~HASH~{name}~"
    return [
        v[len(prefix) : -1]
        for v in variables
        if v.startswith(prefix) and v.endswith("~") and len(v) > len(prefix) + 1
    ]


def channel_builtins(ch: Channel) -> dict[str, str]:
    """What Asterisk computes for a channel rather than storing as a variable."""
    return {
        "CALLERID(num)": ch.cid_num,
        "CALLERID(name)": ch.cid_name,
        "UNIQUEID": ch.uid,
        "CHANNEL": ch.name,
        "LINKEDID": ch.linkedid,
    }


def channel_env(sim: Simulator, ch: Channel | None, announce: Callable[[str, str], None]) -> Env:
    """Substitution on one channel (or on none, as AMI's Getvar does without Channel), with the
    channel functions bound to it; ``announce`` emits the VarSet of a variable a function sets."""
    variables: dict[str, str] = ch.variables if ch is not None else {}
    options: dict[str, str] = ch.curl_options if ch is not None else {}

    def set_var(name: str, value: str) -> None:
        if ch is not None:
            ch.variables[name] = value
            announce(name, value)

    async def f_curl(arg: str) -> str:
        parts = separate_args(arg, limit=2)
        url = parts[0] if parts else ""
        if not url:
            sim.log_asterisk("WARNING", "CURL requires an argument (URL)")
            return ""
        with sim.network_wait():
            result = await curl.fetch(
                url, parts[1] if len(parts) > 1 else None, {**sim.pbx.curl_options, **options}, sim.http
            )
        if result.warning is not None:
            sim.log_asterisk(result.level, result.warning)
        if result.fields is not None:
            set_var(ODBCFIELDS, result.fields)
        return result.value

    async def f_curlopt(arg: str) -> str:
        try:
            found = curl.read_option({**sim.pbx.curl_options, **options}, arg)
        except curl.CurlOptionError as err:
            sim.log_asterisk("ERROR", str(err))
            return ""
        return found or ""

    async def f_hash(arg: str) -> str:
        value, fields = hash_read(variables, arg)
        if fields is not None:
            set_var(ODBCFIELDS, fields)
        return value

    async def f_hashkeys(arg: str) -> str:
        return ",".join(hash_keys(variables, arg.strip()))

    return Env(
        variables,
        channel_builtins(ch) if ch is not None else {},
        sim.pbx.db,
        sim.now,
        {"CURL": f_curl, "CURLOPT": f_curlopt, "HASH": f_hash, "HASHKEYS": f_hashkeys},
    )


class _StopDialplan(_Hangup):
    """Hangup([cause]) in the dialplan: the channel ends with that Q.850 cause (16)."""

    def __init__(self, cause: int = 16):
        super().__init__(cause)
        self.cause = cause


def _seconds(arg: str, line: Line) -> float:
    try:
        return float(arg.strip() or 0)
    except ValueError as err:
        raise DialplanError(f"{line.where}: Wait({arg}) needs seconds") from err


def _agi_words(cmd: str) -> list[str]:
    out: list[str] = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\S+)', cmd):
        out.append(m.group(1) if m.group(1) is not None else m.group(2))
    return out
