"""The simulator facade: wires the PBX, the traffic and the AMI server to one clock.

Clock modes (``SimConfig.speed``):
- ``> 0`` and finite: simulated time runs ``speed`` times faster than the wall clock; events carry
  a ``Timestamp`` in simulated time when ``speed != 1`` (docs/architecture.md, "One clock");
- ``inf``: as fast as the clients read (bulk runs, benchmarks): time jumps from timer to timer and
  waits while a client's buffer is full instead of applying ``writetimeout``, and while a channel
  waits on a ``CURL()`` (on Asterisk the world moves on only the lookup's few milliseconds; here a
  busy machine could otherwise let minutes of simulated time pass before the answer is used);
- ``0``: manual: time moves only when a test calls :meth:`Simulator.advance` (deterministic
  scenario tests); ``writetimeout`` too is counted in these simulated seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

import structlog

from acd.sim import actions, app_queue, curl, dialplan_calls, hangups, members
from acd.sim.clock import Scheduler
from acd.sim.config import (
    CLASSES,
    DEFAULT_MANAGER_CONF,
    DEFAULT_QUEUES_CONF,
    SimConfig,
    User,
    load_manager_conf,
    load_queues_conf,
)
from acd.sim.dialplan import DialplanError, load_dialplan
from acd.sim.emit import Out, event, ts_header
from acd.sim.entities import FOREVER, AgentBehaviour, Call, CallScript, Ending
from acd.sim.interp import Interpreter
from acd.sim.pbx import Pbx
from acd.sim.queue_log import QueueLogFile
from acd.sim.server import AmiServer, Session
from acd.sim.traffic import Traffic
from acd.sim.truth import Truth

log = structlog.get_logger("acd.sim")


class Simulator:
    """An Asterisk stand-in: ``await start()`` -> (host, port); ``await stop()``."""

    def __init__(self, config: SimConfig | None = None):
        self.cfg = cfg = config or SimConfig()
        mconf = load_manager_conf(cfg.manager_conf or DEFAULT_MANAGER_CONF)
        users = dict(mconf.users)
        if cfg.username:
            users[cfg.username] = User(cfg.username, cfg.secret or "", frozenset(CLASSES), frozenset(CLASSES))
        self.users = users
        self.qconf = load_queues_conf(cfg.queues_conf or DEFAULT_QUEUES_CONF)
        if cfg.queues:
            missing = [q for q in cfg.queues if q not in self.qconf.queues]
            if missing:
                from acd.sim.conf_parser import ConfError

                raise ConfError(f"--queues names queues not in queues.conf: {', '.join(missing)}")
        self.speed = cfg.speed
        if cfg.timestampevents is not None:
            tse = cfg.timestampevents
        else:
            tse = mconf.timestampevents or self.speed != 1.0
        self.timestamps = tse
        self.rng = random.Random(cfg.seed)
        start = cfg.start_epoch if cfg.start_epoch is not None else time.time()
        self.sched = Scheduler(start)
        self.truth = Truth(cfg.truth)
        self.server = AmiServer(self, users)
        self.server.paced_by_readers = math.isinf(cfg.speed)
        self.pbx = app_queue.attach(
            Pbx(self.qconf, self.sched, self._emit, self.rng, tse, self.truth.record, cfg.systemname)
        )
        if cfg.queue_log is not None:
            self.pbx.qlog = QueueLogFile(cfg.queue_log)
            self.pbx.ql("NONE", "NONE", "NONE", "QUEUESTART", "")  # Asterisk's logger at boot
        self.traffic = Traffic(self.pbx, self.sched, self.rng, cfg)
        self.asterisk_log: deque[tuple[str, str]] = deque(maxlen=1000)
        # CURL()'s GETs answered in this process instead of over a socket (curl.Transport): a
        # manual-clock bulk run then routes its callers without waiting on the wall clock.
        self.http: curl.Transport | None = None
        self.interp: Interpreter | None = None
        self.trunks: dict[str, tuple[Simulator, str]] = {}  # trunk name -> (peer, its context)
        if cfg.dialplan is not None:
            self.interp = Interpreter(self, load_dialplan(cfg.dialplan))
            if cfg.traffic and cfg.dialplan_context not in self.interp.dp.contexts:
                raise DialplanError(f"{cfg.dialplan}: no [{cfg.dialplan_context}] context for incoming calls")
            self.traffic.launch = self._launch_dialplan
        self.booted = True
        self.boot_time = start
        self._wall0 = 0.0
        self._sim0 = start
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False
        self.restarting = False
        self._traffic_started = False
        self.network_waits = 0  # channels in a CURL() right now

    # ---- clock ------------------------------------------------------------------------------
    def now(self) -> float:
        """Current simulated time (never behind the scheduler)."""
        if self.speed == 0 or math.isinf(self.speed) or not self._running:
            return self.sched.now
        t = self._sim0 + (time.monotonic() - self._wall0) * self.speed
        return max(t, self.sched.now)

    def ts(self) -> str:
        return ts_header(self.now()) if self.timestamps else ""

    def _advance_to_now(self) -> None:
        self.sched.run_due(self.now())

    async def _run(self) -> None:
        assert self._wake is not None
        while self._running:
            if math.isinf(self.speed):
                await self._backpressure()  # before each jump, not only after one
                nt = self.sched.next_time()
                if nt is None:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self.sched.run_due(nt)
                continue
            nt = self.sched.next_time()
            if self.speed == 0:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = self.now()
            timeout = None if nt is None else max(0.0, (nt - now) / self.speed)
            self._wake.clear()
            if timeout is None or timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            self._advance_to_now()

    async def _backpressure(self) -> None:
        await asyncio.sleep(0)
        while self.network_waits or any(s._paused_at is not None for s in self.server.sessions):
            await asyncio.sleep(0.002)

    @contextlib.contextmanager
    def network_wait(self) -> Iterator[None]:
        """A channel waits on the network in wall time (``CURL()``): at speed ``inf`` simulated time
        stands still until it is done."""
        self.network_waits += 1
        try:
            yield
        finally:
            self.network_waits -= 1

    async def advance(self, seconds: float) -> None:
        """Manual clock (speed 0): move simulated time forward, firing due timers, then let
        the event loop flush what was written."""
        self.sched.run_due(self.sched.now + seconds)
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> tuple[str, int]:
        self._wake = asyncio.Event()
        self._wall0 = time.monotonic()
        self._sim0 = self.sched.now
        self._running = True
        host, port = await self.server.listen(self.cfg.host, self.cfg.port)
        self._traffic_started = False
        if self.cfg.traffic and not self.cfg.hold_until_login and not self.cfg.hold_traffic:
            self._start_traffic()
        self._runner = asyncio.create_task(self._run())
        return host, port

    def start_traffic(self) -> None:
        """Start the calls and agents of ``hold_traffic`` (e.g. once every acd node watching leads)."""
        self._start_traffic()

    def _start_traffic(self) -> None:
        if not self._traffic_started:
            self._traffic_started = True
            self.traffic.start()
            for kind, at, arg in self.cfg.faults:  # timed from the first call on
                self.sched.after(at, self.schedule_fault, kind, arg)
            self._notify()

    def stop_traffic(self) -> None:
        """Closing time: no new callers (nor callbacks) from now on; the calls in progress go on.
        Lets whatever the dialplan's lookup asks stop before the callers do, without a caller
        meeting a closed port."""
        self.traffic.stopped = True

    async def stop(self) -> None:
        self._running = False
        self.stop_traffic()
        if self._wake is not None:
            self._wake.set()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        for t in list(self._tasks):
            t.cancel()
        if self.interp is not None:
            self.interp.stop()
        self.server.close_all()
        await self.server.close_listener()
        self.truth.close()
        if self.pbx.qlog is not None:
            self.pbx.qlog.close()

    async def wait_calls_done(self, timeout: float | None = None) -> None:
        """Return once the traffic limit (``max_calls``/``duration``) is reached and every
        placed call has ended (transfers included)."""

        async def _wait() -> None:
            while True:
                if not self.cfg.traffic:
                    if not self.pbx.calls:
                        return
                    await asyncio.sleep(0.02)
                    continue
                if not self._traffic_started:
                    await asyncio.sleep(0.02)
                    continue
                limit = self.traffic._limit_reached()
                if limit and self.traffic.idle and not self.pbx.calls:
                    return
                await asyncio.sleep(0.02)

        await asyncio.wait_for(_wait(), timeout)

    def add_reader(self, read: Iterable[str], deliver: Callable[[bytes], None]) -> None:
        """An in-process AMI reader: every broadcast event of the classes in ``read`` is handed to
        ``deliver`` as the wire bytes a manager session with that read mask would receive, with
        no socket in between. For bulk runs in one process (``acd demo`` records its history
        this way, at the speed of the code rather than of a loopback connection)."""
        self.server.readers.append((frozenset(read), deliver))

    def wake(self) -> None:
        """New timers may be due earlier than the runner thinks: let it look again."""
        self._notify()

    def log_error(self, text: str) -> None:
        log.error("dialplan_error", detail=text)

    def log_asterisk(self, level: str, text: str) -> None:
        """A line Asterisk itself would log (a failed CURL() at WARNING with its URL...): kept in
        ``asterisk_log`` (the last 1000) and logged."""
        self.asterisk_log.append((level, text))
        (log.error if level == "ERROR" else log.warning)("asterisk_log", asterisk_level=level, detail=text)

    def _launch_dialplan(self, number: str, queue: str, script: CallScript) -> Call | None:
        """Traffic with a dialplan: the caller's channel runs it from the incoming context;
        ``SIM_QUEUE`` tells a plain dialplan which queue the traffic model picked."""
        assert self.interp is not None
        call = dialplan_calls.new_channel(self.pbx, number, script)
        self.pbx.channels[call.ch1].variables["SIM_QUEUE"] = queue
        self.interp.start(call, self.cfg.dialplan_context, number)
        return call

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` as a task the simulator cancels when it stops."""
        self._spawn(coro)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- plumbing ---------------------------------------------------------------------------
    def _emit(self, outs: list[Out]) -> None:
        self.server.broadcast(outs)

    def broadcast(self, outs: list[Out]) -> None:
        self.server.broadcast(outs)

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _to_the_present(self) -> None:
        """In real time, bring simulated time up to the wall clock before anything is scheduled:
        while nothing was due, the runner slept and the scheduler's time stood still, so a delay
        counted from it would already be over (a 1 s ring and a 2 s talk fired at once)."""
        if self.speed != 0 and not math.isinf(self.speed) and self._running:
            self._advance_to_now()

    def handle_action(self, s: Session, msg: dict[str, str]) -> None:
        self._to_the_present()
        if self.cfg.action_log is not None:
            self._log_action(s, msg)
        delay = self.cfg.action_latency
        if delay > 0 and msg.get("Action", "").lower() not in ("login", "challenge", "logoff"):
            # Asterisk works an action off on its own thread: calls keep moving meanwhile, so an
            # action on a member can land just after app_queue has rung that member.
            self.sched.after(delay, self._dispatch_later, s, msg)
        else:
            actions.dispatch(self, s, msg)
        self._notify()

    def _log_action(self, s: Session, msg: dict[str, str]) -> None:
        """Who sent what, when (wall clock): the HA tests check a deposed node sends nothing."""
        assert self.cfg.action_log is not None
        user = s.user.name if s.user is not None else msg.get("Username", "")
        line = {"at": time.time(), "user": user, "action": msg.get("Action", ""), "session": s.session_id}
        with self.cfg.action_log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def _dispatch_later(self, s: Session, msg: dict[str, str]) -> None:
        if not s.closing:
            actions.dispatch(self, s, msg)

    def client_logged_in(self) -> None:
        """A manager session logged in: traffic held until then (``hold_until_login``) starts."""
        if self.cfg.traffic and self.cfg.hold_until_login and not self.cfg.hold_traffic:
            asyncio.get_running_loop().call_soon(self._start_traffic)

    # ---- faults -----------------------------------------------------------------------------
    def drop_connections(self, mid_message: bool = False) -> None:
        """Cut every AMI connection (optionally after half a message)."""
        self.server.drop_all(mid_message)

    def set_silent(self, on: bool = True) -> None:
        """Keep sockets open but answer and send nothing (a hung Asterisk)."""
        self.server.silent = on

    def send_malformed(self) -> None:
        """Write garbage frames to every logged-in client (bad lines, LF-only, invalid UTF-8)."""
        self.server.malformed()

    async def restart(self, down_seconds: float = 0.5) -> None:
        """An Asterisk restart: hang up every call, Shutdown, close, refuse connections for
        ``down_seconds`` (wall time), listen again; counters restart and FullyBooted follows the
        login once booted, as in the restart capture."""
        self.restarting = True
        self.traffic.held = True
        if self.interp is not None:
            self.interp.stop()
        hangups.restart_hangup_all(self.pbx)
        self.broadcast(
            [event("Shutdown", "system", (("Shutdown", "Cleanly"), ("Restart", "True")), self.ts())]
        )
        await asyncio.sleep(0.05)
        self.server.close_all()
        await self.server.close_listener()
        await asyncio.sleep(down_seconds)
        self.pbx.reset_counters()
        self.booted = False
        self.boot_time = self.now()
        self.pbx.ql("NONE", "NONE", "NONE", "QUEUESTART", "")
        self.traffic.held = False
        await self.server.listen(self.server.host, self.server.port)
        self.restarting = False
        await asyncio.sleep(self.cfg.boot_seconds)
        self.booted = True
        fb = event(
            "FullyBooted", "system", (("Uptime", 0), ("LastReload", 0), ("Status", "Fully Booted")), self.ts()
        )
        for s in list(self.server.sessions):
            if s.await_boot and s.wants("system"):
                s.send(fb[1])
            s.await_boot = False

    def schedule_fault(self, kind: str, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        if kind == "drop":
            loop.call_soon(self.drop_connections, False)
        elif kind == "drop-mid":
            loop.call_soon(self.drop_connections, True)
        elif kind == "silent":
            loop.call_soon(self.set_silent, True)
        elif kind == "unsilent":
            self.set_silent(False)
        elif kind == "malformed":
            loop.call_soon(self.send_malformed)
        elif kind == "restart":
            self._spawn(self.restart(seconds))

    # ---- scenario API (tests, demos) --------------------------------------------------------
    def add_agent(
        self,
        queue: str,
        exten: str,
        name: str,
        answer_after: float | None = 2.0,
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
        context: str = "agents",
    ) -> str:
        """Log a simulated agent into ``queue`` (QueueAdd events); returns its interface."""
        self._to_the_present()
        iface = f"Local/{exten}@{context}"
        self.pbx.device(iface).behaviour = AgentBehaviour(answer_after=answer_after)
        err = members.add_member(self.pbx, queue, iface, name, penalty, paused, reason)
        if err:
            raise ValueError(err)
        self._notify()
        return iface

    def place_call(
        self,
        number: str,
        queue: str,
        patience: float | None = None,
        talk: float | None = None,
        ending: str = "caller",
        cause: int = 16,
        context: str | None = None,
    ) -> Call:
        """A caller enters ``queue``: waits ``patience`` s at most (None: forever), talks
        ``talk`` s (None: until :meth:`hangup`), then ends the way ``ending`` names. With
        ``context`` (and a dialplan loaded) the caller runs the dialplan from there instead,
        with ``SIM_QUEUE`` set to ``queue``."""
        self._to_the_present()
        script = CallScript(
            patience=patience, talk=FOREVER if talk is None else talk, ending=Ending(ending, cause)
        )
        if context is not None:
            if self.interp is None or context not in self.interp.dp.contexts:
                raise ValueError(f"no dialplan context {context!r}")
            dcall = dialplan_calls.new_channel(self.pbx, number, script)
            self.pbx.channels[dcall.ch1].variables["SIM_QUEUE"] = queue
            self.interp.start(dcall, context, number)
            self._notify()
            return dcall
        call = app_queue.new_call(self.pbx, number, queue, script)
        if call is None:
            raise ValueError(f"no such queue: {queue}")
        self._notify()
        return call

    def join_trunk(self, name: str, peer: Simulator, context: str) -> None:
        """``Dial(IAX2/<name>/<exten>)`` and ``Dial(PJSIP/<exten>@<name>)`` here reach ``peer``,
        whose dialplan takes the call in ``context`` (acd/sim/trunks.py)."""
        if peer.interp is None or context not in peer.interp.dp.contexts:
            raise ValueError(f"the peer has no dialplan context {context!r}")
        self.trunks[name] = (peer, context)

    def receive_trunk(
        self, context: str, exten: str, call: Call, values: dict[str, str], on_done: Callable[[Call], None]
    ) -> Call:
        """A call another simulator passed over a trunk arrives: a new channel (its own ids and
        Linkedid) runs ``context`` at ``exten``, with what the trunk carried; ``on_done`` hears
        when it is over."""
        assert self.interp is not None
        self._to_the_present()
        script = replace(call.script, orig_actionid=None)
        arrived = dialplan_calls.new_channel(self.pbx, call.number, script, call.name)
        self.pbx.channels[arrived.ch1].variables.update(values)
        self.pbx.trunk_watch[arrived.ch1] = on_done
        self.interp.start(arrived, context, exten)
        self._notify()
        return arrived

    def hangup(self, channel: str, cause: int | None = None) -> bool:
        """As AMI Hangup on ``channel`` (with ``Cause``)."""
        self._to_the_present()
        done = hangups.hangup_channel(self.pbx, channel, cause)
        self._notify()
        return done

    def answer(self, call: Call, iface: str) -> bool:
        """Make the rung member ``iface`` answer now."""
        self._to_the_present()
        for leg in call.legs:
            if leg.iface == iface:
                app_queue.answer(self.pbx, call, leg)
                return True
        return False
