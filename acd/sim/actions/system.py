"""The other actions: UserEvent, the AstDB (DBPut, DBGet, DBGetTree, DBDel, DBDelTree), Command,
CoreSettings, and SimFault (the simulator's own fault hook)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from acd.sim.actions.queues import queue_show
from acd.sim.emit import event, list_complete, list_event, response
from acd.sim.server import Session, reply

if TYPE_CHECKING:
    from acd.sim.simulator import Simulator


def a_userevent(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    name = m.get("UserEvent", "")
    if not name:
        reply(s, aid, "UserEvent header missing", "Error")
        return
    reply(s, aid, "Event Sent")
    pairs: list[tuple[str, object]] = [("UserEvent", name)]
    if aid is not None:
        pairs.append(("ActionID", aid))
    for k, v in m.items():
        if k in ("Action", "ActionID", "UserEvent"):
            continue
        for part in v.split("\n"):
            pairs.append((k, part))
    sim.broadcast([event("UserEvent", "user", pairs, sim.ts())])


# ---- AstDB ----------------------------------------------------------------------------------
def a_dbput(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    fam, key = m.get("Family", ""), m.get("Key", "")
    if not fam or not key:
        reply(s, aid, "No family specified" if not fam else "No key specified", "Error")
        return
    sim.pbx.db[f"/{fam}/{key}"] = m.get("Val", "")
    reply(s, aid, "Updated database successfully")


def a_dbget(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    fam, key = m.get("Family", ""), m.get("Key", "")
    val = sim.pbx.db.get(f"/{fam}/{key}")
    if val is None:
        reply(s, aid, "Database entry not found", "Error")
        return
    s.send(
        response(aid, "Result will follow", eventlist=True)
        + list_event("DBGetResponse", (("Family", fam), ("Key", key), ("Val", val)), aid)
        + list_complete("DBGetComplete", aid, 1)
    )


def a_dbgettree(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    fam = m.get("Family", "")
    prefix = f"/{fam}/" + (m.get("Key", "") + "/" if m.get("Key") else "")
    items = sorted((k, v) for k, v in sim.pbx.db.items() if k.startswith(prefix))
    if not items:
        reply(s, aid, "Database entry not found", "Error")
        return
    parts = [response(aid, "Result will follow", eventlist=True)]
    parts += [list_event("DBGetTreeResponse", (("Key", k), ("Val", v)), aid) for k, v in items]
    parts.append(list_complete("DBGetTreeComplete", aid, len(items)))
    s.send(b"".join(parts))


def a_dbdel(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    k = f"/{m.get('Family', '')}/{m.get('Key', '')}"
    if sim.pbx.db.pop(k, None) is None:
        reply(s, aid, "Database entry could not be deleted", "Error")
        return
    reply(s, aid, "Key deleted successfully")


def a_dbdeltree(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    prefix = f"/{m.get('Family', '')}" + (f"/{m['Key']}" if m.get("Key") else "")
    keys = [k for k in sim.pbx.db if k == prefix or k.startswith(prefix + "/")]
    if not keys:
        reply(s, aid, "Database entry not found", "Error")
        return
    for k in keys:
        del sim.pbx.db[k]
    reply(s, aid, "Key tree deleted successfully")


# ---- Command ('queue show') -----------------------------------------------------------------
def a_command(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    cmd = m.get("Command", "").strip()
    lines: list[str]
    mt = re.fullmatch(r"queue show(?:\s+(\S+))?", cmd)
    if mt:
        lines = queue_show(sim, mt.group(1))
    elif cmd == "core show version":
        lines = ["Asterisk 22.10.1 (acd simulator)"]
    else:
        lines = [
            f"No such command '{cmd}' (type 'core show help {cmd.split(' ')[0]}' for other possible commands)"
        ]
    s.send(response(aid, "Command output follows", extra=[("Output", ln) for ln in lines]))


def a_coresettings(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    s.send(
        response(
            aid,
            None,
            extra=(
                ("AMIversion", "11.0.0"),
                ("AsteriskVersion", "22.10.1"),
                ("SystemName", sim.cfg.systemname),
                ("CoreMaxCalls", 0),
                ("CoreMaxLoadAvg", "0.000000"),
                ("CoreRunUser", "asterisk"),
                ("CoreRunGroup", "asterisk"),
                ("CoreMaxFilehandles", 0),
                ("CoreRealTimeEnabled", "No"),
                ("CoreCDRenabled", "Yes"),
                ("CoreHTTPenabled", "No"),
                ("SoundsSearchCustomDir", "No"),
            ),
        )
    )


def a_simfault(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    """Not an Asterisk action: the simulator's fault hook for tests driven over AMI only."""
    kind = m.get("Fault", "").lower()
    if kind not in ("drop", "drop-mid", "restart", "silent", "malformed", "unsilent"):
        reply(s, aid, "Fault must be drop, drop-mid, restart, silent, unsilent or malformed", "Error")
        return
    reply(s, aid, "Fault scheduled")
    sim.schedule_fault(kind, float(m.get("Seconds", "1") or "1"))
