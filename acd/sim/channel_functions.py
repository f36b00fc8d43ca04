"""The functions Asterisk binds to a channel, as the simulator runs them: ``CURL()`` (a real HTTP
client with func_curl's behaviour, acd/sim/curl.py) under the channel's ``CURLOPT()`` options,
``HASH()`` and ``HASHKEYS()`` over the channel's variables (func_strings), and the values Asterisk
computes for a channel (``CALLERID(num)``, ``UNIQUEID``...).

The writes ``Set(HASH(name,key)=v)``, ``Set(HASH(name)=v1,v2...)`` (keys from ``~ODBCFIELDS~``,
as func_strings' array() does) are :func:`hash_write`; the interpreter applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from acd.sim import curl
from acd.sim.dialplan import DialplanError, separate_args
from acd.sim.entities import Channel
from acd.sim.expressions import Env
from acd.sim.trunks import IAXVAR, PJSIP_IN, TECH

if TYPE_CHECKING:
    from acd.sim.simulator import Simulator

ODBCFIELDS = "~ODBCFIELDS~"


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

    async def f_channel(arg: str) -> str:
        return channel_item(ch, arg.strip()) if ch is not None else ""

    async def f_iaxvar(arg: str) -> str:
        return variables.get(IAXVAR + arg.strip(), "")

    async def f_pjsip_header(arg: str) -> str:
        parts = separate_args(arg, limit=3)
        if len(parts) < 2 or parts[0].strip() != "read":
            raise DialplanError(f"PJSIP_HEADER({arg}): the simulator reads headers only (read,name)")
        return variables.get(PJSIP_IN + parts[1].strip(), "")

    return Env(
        variables,
        channel_builtins(ch) if ch is not None else {},
        sim.pbx.db,
        sim.now,
        {
            "CURL": f_curl,
            "CURLOPT": f_curlopt,
            "HASH": f_hash,
            "HASHKEYS": f_hashkeys,
            "CHANNEL": f_channel,
            "IAXVAR": f_iaxvar,
            "PJSIP_HEADER": f_pjsip_header,
        },
    )


def channel_item(ch: Channel, item: str) -> str:
    """``CHANNEL(item)`` for the items the simulator knows."""
    if item == "linkedid":
        return ch.linkedid
    if item == "uniqueid":
        return ch.uid
    if item == "name":
        return ch.name
    if item == "channeltype":
        return ch.variables.get(TECH) or ch.name.partition("/")[0]
    raise DialplanError(f"CHANNEL({item}) is not simulated (linkedid, uniqueid, name, channeltype)")
