"""The dialplan interpreter: runs a caller's channel through extensions.conf, one priority at a
time, emitting the Newexten/VarSet lines Asterisk emits; Queue() enters ``app_queue``, Dial()
rings a member through ``dialplan_calls``, AGI() talks FastAGI (``fastagi``).

One asyncio task per call while it runs dialplan. Waits (Wait, Playback, MusicOnHold) are timers
in simulated time; ``CURL()`` and FastAGI run in wall time, as on a real Asterisk. The channel
functions (``CURL``, ``CURLOPT``, ``HASH``, ``HASHKEYS``) are in ``channel_functions``; the writes
``Set(HASH(...)=v)`` and ``Set(CURLOPT(option)=v)`` and ``ClearHash(name)`` here.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from acd.sim import curl
from acd.sim.app_queue import enter_queue
from acd.sim.channel_functions import channel_env, hash_write
from acd.sim.dialplan import Dialplan, DialplanError, Line, split_args
from acd.sim.dialplan_calls import dial_start, hangup_idle
from acd.sim.emit import Out, event
from acd.sim.entities import Call, Channel
from acd.sim.expressions import Env, substitute
from acd.sim.fastagi import run_agi
from acd.sim.trunks import IAXVAR, PJSIP_OUT, TrunkDial, carried, parse_trunk_dial

if TYPE_CHECKING:
    from acd.sim.simulator import Simulator

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

    def env(self, call: Call) -> Env:
        ch = self.sim.pbx.channels[call.ch1]
        env = channel_env(self.sim, ch, lambda name, value: self.emit([self._varset(call, name, value)]))
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

    def emit(self, outs: list[Out]) -> None:
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
        env = self.env(call)
        args = await substitute(line.args, env, line.where)
        if call.state == "done" or call.ch1 not in self.sim.pbx.channels:
            raise _Hangup  # the caller hung up while a function (CURL) was running
        ch = self.sim.pbx.channels[call.ch1]
        self.emit(
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
            self.set_variable(call, ch, name.strip(), value, line)
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
            self.emit([self._varset(call, "PLAYBACKSTATUS", "SUCCESS")])
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
            self.emit([event("UserEvent", "user", pairs, self.sim.ts())])
            return None
        if app == "ClearHash":
            prefix = f"~HASH~{args.strip()}~"
            for name in [n for n in ch.variables if n.startswith(prefix)]:
                del ch.variables[name]
            return None
        if app == "Gosub":
            target, arguments = _gosub_target(args)
            call.gosub.append((context, exten, prio + 1))
            for n, value in enumerate(arguments, 1):
                ch.variables[f"ARG{n}"] = value
            return self._target(target, context, exten, line)
        if app == "Return":
            if not call.gosub:
                raise DialplanError(f"{line.where}: Return() without Gosub")
            return call.gosub.pop()
        if app == "Hangup":
            raise _StopDialplan(int(args) if args.strip().isdigit() else 16)
        if app == "Queue":
            await self._queue(call, args, line)
            return None
        if app == "Dial":
            status = await self._dial(call, args, line)
            ch.variables["DIALSTATUS"] = status
            self.emit([self._varset(call, "DIALSTATUS", status)])
            return None
        if app == "AGI":
            status = await run_agi(self, call, args, line)
            ch.variables["AGISTATUS"] = status
            self.emit([self._varset(call, "AGISTATUS", status)])
            return None
        raise DialplanError(f"{line.where}: application {app}() is not supported by the simulator")

    def set_variable(self, call: Call, ch: Channel, name: str, value: str, line: Line) -> None:
        dbm = re.fullmatch(r"DB\((.+)\)", name)
        if dbm:
            self.sim.pbx.db["/" + dbm.group(1).strip().strip("/")] = value
            return
        hm = re.fullmatch(r"HASH\((.+)\)", name)
        if hm:
            for var, val in hash_write(ch.variables, hm.group(1), value):
                ch.variables[var] = val
                self.emit([self._varset(call, var, val)])
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
        elif name.startswith("IAXVAR(") and name.endswith(")"):
            name = IAXVAR + name[7:-1].strip()  # sent with the call over an IAX2 trunk
        elif name.startswith("PJSIP_HEADER(") and name.endswith(")"):
            action, _, header = name[13:-1].partition(",")
            if action.strip() != "add":
                raise DialplanError(f"{line.where}: the simulator adds PJSIP headers only (add,name)")
            name = PJSIP_OUT + header.strip()  # on the outbound channel: Dial()'s b() handler
        elif "(" in name:
            raise DialplanError(
                f"{line.where}: Set({name}=...) writes a function the simulator does not support"
            )
        ch.variables[name] = value
        self.emit([self._varset(call, name, value)])

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
        trunk = parse_trunk_dial(dest)
        if trunk is not None:
            return await self._trunk_dial(call, trunk, parts, line)
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

    async def _trunk_dial(self, call: Call, trunk: TrunkDial, parts: list[str], line: Line) -> str:
        """Dial() over a trunk to another simulator (acd/sim/trunks.py): the call goes on there;
        this side's caller hangs up when it is over."""
        found = self.sim.trunks.get(trunk.peer)
        if found is None:
            raise DialplanError(f"{line.where}: no trunk {trunk.peer!r} joined to this simulator")
        peer, context = found
        options = parts[2].strip() if len(parts) > 2 else ""
        handler = re.search(r"b\(([^()]*(?:\([^()]*\))?)\)", options)
        if handler is not None:  # the predial handler runs on the outbound channel before it is called
            target, arguments = _gosub_target(handler.group(1).replace("^", ","))
            await self._subroutine(call, target, arguments, line)
        ch = self.sim.pbx.channels[call.ch1]
        values = carried(trunk.tech, ch.variables)
        for name in [n for n in ch.variables if n.startswith(PJSIP_OUT)]:
            del ch.variables[name]
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(_: Call) -> None:
            if not fut.done():
                fut.set_result(None)

        call.move("trunked")
        peer.receive_trunk(context, trunk.exten, call, values, done)
        await fut
        call.move("dialplan")
        hangup_idle(self.sim.pbx, call, cause=16)  # the far end hung up: Dial() returns, the caller goes
        self.sim.wake()
        raise _Hangup

    async def _subroutine(self, call: Call, target: str, arguments: list[str], line: Line) -> None:
        """Run a Gosub target to its Return() in place (a predial handler)."""
        ch = self.sim.pbx.channels[call.ch1]
        for n, value in enumerate(arguments, 1):
            ch.variables[f"ARG{n}"] = value
        depth = len(call.gosub)
        call.gosub.append(("", "", 0))
        context, exten, prio = self._target(target, call.dp_context, call.dp_exten, line)
        while len(call.gosub) > depth:
            ext = self.dp.find(context, exten)
            step = ext.prios.get(prio) if ext is not None else None
            if step is None:
                raise DialplanError(f"{line.where}: the handler {target} ends without Return()")
            jump = await self._execute(call, step, context, exten, prio)
            if jump is None:
                prio += 1
            else:
                context, exten, prio = jump


def _gosub_target(args: str) -> tuple[str, list[str]]:
    """``context,exten,priority(arg1,arg2)`` -> the target and its arguments."""
    head, paren, rest = args.partition("(")
    if not paren:
        return args.strip(), []
    return head.strip(), [a.strip() for a in split_args(rest.rstrip().removesuffix(")"))]


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
