"""What Asterisk would have answered to a resync at a given point of a capture.

A capture is one AMI connection's events; acd resyncs with ``QueueStatus`` and
``CoreShowChannels``. To replay a capture with a stretch cut out (acd blind in between) the
replay needs the answer Asterisk would have given at the end of the cut: this follows the
capture's events (channels created, running an application, in a bridge, hung up; callers in
queues; members added or removed) and renders the list events in Asterisk's shape. It reads the
events as plain header maps and knows nothing of acd's core: the snapshot is the capture's, not
acd's idea of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["AsteriskState"]


@dataclass
class _Chan:
    uniqueid: str
    channel: str
    linkedid: str
    caller_num: str
    application: str = ""
    app_data: str = ""
    bridge: str = ""
    created: float = 0.0


@dataclass
class AsteriskState:
    channels: dict[str, _Chan] = field(default_factory=dict)
    waiting: dict[tuple[str, str], tuple[dict[str, str], float]] = field(default_factory=dict)
    members: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def feed(self, h: dict[str, str], at: float) -> None:
        name = h.get("Event", "")
        uid = h.get("Uniqueid", "")
        if name == "Newchannel" and uid:
            self.channels[uid] = _Chan(
                uid, h.get("Channel", ""), h.get("Linkedid", uid), h.get("CallerIDNum", ""), created=at
            )
        elif name == "Newexten" and uid in self.channels:
            self.channels[uid].application = h.get("Application", "")
            self.channels[uid].app_data = h.get("AppData", "")
        elif name == "BridgeEnter" and uid in self.channels:
            self.channels[uid].bridge = h.get("BridgeUniqueid", "")
        elif name == "BridgeLeave" and uid in self.channels:
            self.channels[uid].bridge = ""
        elif name == "Hangup":
            self.channels.pop(uid, None)
        elif name == "QueueCallerJoin":
            self.waiting[(h.get("Queue", ""), uid)] = (h, at)
        elif name == "QueueCallerLeave":
            self.waiting.pop((h.get("Queue", ""), uid), None)
        elif name in ("QueueMemberAdded", "QueueMember"):
            iface = h.get("Interface") or h.get("Location", "")
            self.members[(h.get("Queue", ""), iface)] = h
        elif name == "QueueMemberRemoved":
            self.members.pop((h.get("Queue", ""), h.get("Interface", "")), None)
        elif name in ("QueueMemberPause", "QueueMemberStatus"):
            key = (h.get("Queue", ""), h.get("Interface", ""))
            if key in self.members:
                self.members[key] = {**self.members[key], **h}

    def snapshot(self, at: float) -> Iterable[dict[str, str]]:
        """QueueStatus's members and entries, then CoreShowChannels' channels, as Asterisk sends them."""
        for (queue, iface), h in self.members.items():
            yield {
                "Event": "QueueMember",
                "Queue": queue,
                "Name": h.get("MemberName") or h.get("Name", ""),
                "Location": iface,
                "StateInterface": h.get("StateInterface", iface),
                "Paused": h.get("Paused", "0"),
                "PausedReason": h.get("PausedReason", ""),
                "Status": h.get("Status", "1"),
            }
        for position, ((queue, uid), (h, joined)) in enumerate(sorted(self.waiting.items()), 1):
            yield {
                "Event": "QueueEntry",
                "Queue": queue,
                "Position": str(position),
                "Channel": h.get("Channel", ""),
                "Uniqueid": uid,
                "CallerIDNum": h.get("CallerIDNum", ""),
                "CallerIDName": h.get("CallerIDName", ""),
                "Wait": str(int(at - joined)),
            }
        yield {"Event": "QueueStatusComplete"}
        for c in self.channels.values():
            age = max(0, int(at - c.created))
            yield {
                "Event": "CoreShowChannel",
                "Channel": c.channel,
                "Uniqueid": c.uniqueid,
                "Linkedid": c.linkedid,
                "CallerIDNum": c.caller_num,
                "Application": c.application,
                "ApplicationData": c.app_data,
                "BridgeId": c.bridge,
                "Duration": f"{age // 3600:02d}:{age % 3600 // 60:02d}:{age % 60:02d}",
            }
        yield {"Event": "CoreShowChannelsComplete"}
