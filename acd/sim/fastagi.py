"""AGI() over FastAGI: a real TCP client with Asterisk's behaviour. A refused or unreachable server
gives ``AGISTATUS=FAILURE`` after at most the connect bound (2 s, wall time); a connected server
is waited for as long as it takes. Each command is announced (AGIExecStart/AGIExecEnd) and
answered as res_agi does for the few commands a routing script uses (GET VARIABLE, GET FULL
VARIABLE, SET VARIABLE, VERBOSE, NOOP, ANSWER, HANGUP).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from acd.sim.dialplan import DialplanError, Line, split_args
from acd.sim.emit import event
from acd.sim.entities import Call
from acd.sim.expressions import substitute

if TYPE_CHECKING:
    from acd.sim.interp import Interpreter

AGI_CONNECT_TIMEOUT = 2.0


# ---- AGI() ------------------------------------------------------------------------------
async def run_agi(interp: Interpreter, call: Call, args: str, line: Line) -> str:
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
    ch = interp.sim.pbx.channels[call.ch1]
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
            snap = interp.snapshot(call)
            interp.emit(
                [
                    event(
                        "AGIExecStart",
                        "agi",
                        [*snap, ("CommandId", cid), ("Command", cmd)],
                        interp.sim.ts(),
                    )
                ]
            )
            reply, hang = await _command(interp, call, cmd, line)
            writer.write((reply + "\n").encode())
            code = reply.split(" ", 1)[0]
            result = "Success" if code == "200" else "Failure"
            end = [*snap, ("CommandId", cid), ("Command", cmd), ("ResultCode", code), ("Result", result)]
            interp.emit([event("AGIExecEnd", "agi", end, interp.sim.ts())])
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


async def _command(interp: Interpreter, call: Call, cmd: str, line: Line) -> tuple[str, bool]:
    words = _agi_words(cmd)
    if not words:
        return "510 Invalid or unknown command", False
    verb = " ".join(w.upper() for w in words[:2])
    ch = interp.sim.pbx.channels[call.ch1]
    if verb == "GET VARIABLE" and len(words) >= 3:
        env = interp.env(call)
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
            value = await substitute(words[3], interp.env(call), line.where)
        except DialplanError:
            return "200 result=0", False
        return f"200 result=1 ({value})", False
    if verb == "SET VARIABLE" and len(words) >= 4:
        try:
            interp.set_variable(call, ch, words[2], words[3], line)
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


def _agi_words(cmd: str) -> list[str]:
    out: list[str] = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\S+)', cmd):
        out.append(m.group(1) if m.group(1) is not None else m.group(2))
    return out
