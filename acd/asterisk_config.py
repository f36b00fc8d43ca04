"""The Asterisk side of callback affinity, generated: personal queues, the routing dialplan, the AMI user.

Pure text rendering from the settings and a list of agents; ``acd asterisk-config`` writes it, and
deploy/asterisk/ holds its output for an example center (a test keeps the two in sync). Nothing
here is written by hand in production: an agent added to the center is a regenerated file.

Why this shape (docs/asterisk.md, "Personal queues"; tests/fixtures/ami/weighted-queues):

- Every call stays inside app_queue, so Asterisk's own events and queue_log stay complete.
- Each agent has a one-member personal queue ``acd-agent-<id>`` with ``weight=10``, heavier than
  every shared queue: when that agent frees up, app_queue itself gives them the waiting callback
  first. No reservation, no race, nothing to clean up when acd dies (20 of 20 on a real Asterisk).
- ``joinempty``/``leavewhenempty`` = paused,unavailable,invalid: a callback never waits for an
  agent who is paused or logged out (a waiting callback would block that agent in every lighter
  queue); it goes on to the shared queue at once.
- ``ringinuse=no``: a busy agent is waited for, never rung on top of a call.
- One ring: the dialplan asks for ``n`` (no retry) when the agent is free; while waiting for a busy
  agent, acd withdraws the caller on the first ring without answer (``retry`` gives it the time).
- The dialplan asks acd with ``CURL()`` under ``CURLOPT(conntimeout/httptimeout)`` (the bound,
  ``ACD_ROUTING__TIMEOUT_SECONDS``): whatever state acd is in (down, slow, frozen), the caller
  waits at most the bound, then goes to the shared queue. Every value in the URL goes through
  ``URIENCODE()`` (the caller id is the caller's to choose); the host is an IP literal (no DNS
  lookup on the call path). ``HASH(acd)`` is cleared first, so a stale answer from an earlier pass
  never routes, and an answer without ``end=1`` (cut short) counts as no answer.
- The dialplan confirms the answer it used with ``UserEvent(AcdRouted)``: acd records a decision
  only then, never one that reached nobody.
- An HA pair (``ACD_ROUTING__OTHER_NODE``): a standby's lookup port is closed, so asking it is
  refused at once. The dialplan asks the other node only when the first attempt failed well
  within the bound (half of it: a refusal, never a timeout), with ``HASH(acd)`` cleared between
  the attempts; a caller waits at most one and a half bounds, never two.
- After the personal leg the caller enters the shared queue with ``QUEUE_PRIO`` raised: at the
  head of the line, so the bounded wait costs them no place.
- Calls that cross servers (acd/core/origin.py): the sending server passes
  ``<ACD_SERVER_ID>:<Linkedid>`` over the trunk, as an IAX2 variable (``IAXVAR``, sent at call
  setup) or a PJSIP header (``PJSIP_HEADER(add)`` only works on the outbound channel, so in Dial()'s
  ``b()`` predial handler); the receiving server reads it back and tells acd with
  ``UserEvent(AcdOrigin)`` before the call joins a queue. AMI has nothing else that ties the two.
- Screen pop: the link to this call is Queue()'s URL argument (IAX2 and Local channels receive
  it) and, through the ``b()`` predial Gosub, a ``Call-Info`` header on PJSIP agents' calls.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from acd.ami.classes import READ_NEEDS, WRITE_NEEDS, in_asterisk_order, least_write_classes
from acd.core.affinity import personal_queue_name
from acd.routing.answer import FIELDS
from acd.settings import Settings

__all__ = [
    "FILES",
    "AsteriskConfig",
    "ConfigInputError",
    "render",
    "render_dialplan",
    "render_manager",
    "render_manager_general",
    "render_queues",
    "render_queues_example",
    "resolve_agents",
]

FILES = (
    "queues-acd.conf",
    "extensions-acd.conf",
    "manager-acd.conf",
    "manager-general.conf.example",
    "queues.conf.example",
)
PERSONAL_WEIGHT = 10
RETRY_SECONDS = 5
ROUTE_CONTEXT = "acd-route"
PREDIAL_CONTEXT = "acd-predial"
ORIGIN_OUT_CONTEXT = "acd-origin-out"
ORIGIN_IN_CONTEXT = "acd-origin-in"
ORIGIN_HEADER = "X-ACD-Origin"
FALLBACK_STATUSES = ("TIMEOUT", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL", "FULL", "WITHDRAW")


class ConfigInputError(ValueError):
    """A bad agent list: one clear line (the command exits 2)."""


@dataclass(frozen=True, slots=True)
class AsteriskConfig:
    agents: tuple[tuple[str, str], ...]  # (agent state interface, personal queue)
    lookup_host: str  # an IP literal as Asterisk writes it in a URL
    lookup_port: int
    lookup_timeout: float  # seconds: CURLOPT(conntimeout) and CURLOPT(httptimeout)
    ring_timeout: int
    priority: int
    ami_user: str
    queue_options: str = "t"
    shared_queues: tuple[tuple[str, int, int], ...] = (("support", 0, 20),)  # (name, wrap-up, SL)
    other_lookup: str = ""  # the other HA node's lookup, host:port as in a URL ('' = none)
    server_id: str = ""  # set when several servers share the database: asterisk.conf's systemname
    origin_server: str = "asterisk"  # ACD_SERVER_ID, which a call passed to another server names


def resolve_agents(agents: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(agent, personal queue) sorted by queue; duplicates dropped, two agents on one queue refused."""
    seen: dict[str, str] = {}
    for raw in agents:
        agent = raw.strip()
        if not agent or agent.startswith(("#", ";")):
            continue
        queue = personal_queue_name(agent)
        if queue is None:
            raise ConfigInputError(f"agent {agent!r}: no usable id for a personal queue name")
        other = seen.get(queue)
        if other is not None and other != agent:
            raise ConfigInputError(f"agents {other!r} and {agent!r} would share the queue {queue!r}")
        seen[queue] = agent
    return tuple(sorted(((a, q) for q, a in seen.items()), key=lambda p: p[1]))


def lookup_url_host(bind: str) -> str:
    """The host part of the lookup URL for acd's bind address: an IP literal, loopback for a
    wildcard bind. A name is refused: resolving it on every call puts DNS on the caller's path."""
    if bind in ("0.0.0.0", ""):
        return "127.0.0.1"
    if bind == "::":
        return "[::1]"
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        raise ConfigInputError(
            f"ACD_ROUTING__HOST={bind!r}: give an IP address (Asterisk's CURL() must not resolve a name)"
        ) from None
    return f"[{address}]" if address.version == 6 else str(address)


def lookup_base(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def other_lookup(address: str) -> str:
    """``ACD_ROUTING__OTHER_NODE`` (IP:PORT) as the host:port of a URL; '' when unset."""
    if not address:
        return ""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        return f"{lookup_url_host(host)}:{int(port)}"
    except ConfigInputError:
        raise ConfigInputError(
            f"ACD_ROUTING__OTHER_NODE={address!r}: give an IP address "
            "(Asterisk's CURL() must not resolve a name)"
        ) from None


def configured_agents(settings: Settings) -> list[str]:
    """The agents the settings name: this server's lines of the reps mapping, else
    ``ACD_AFFINITY__AGENTS``."""
    return settings.reps().interfaces(settings.server_id) or list(settings.affinity.agents)


def from_settings(settings: Settings, agents: Sequence[str], queue_options: str = "t") -> AsteriskConfig:
    return AsteriskConfig(
        agents=resolve_agents(agents),
        lookup_host=lookup_url_host(settings.routing.host),
        lookup_port=settings.routing.port,
        lookup_timeout=settings.routing.timeout_seconds,
        ring_timeout=max(1, round(settings.affinity.ring_timeout_seconds)),
        priority=settings.affinity.priority,
        ami_user=settings.ami.username,
        queue_options=queue_options,
        shared_queues=tuple(
            (
                name,
                round(settings.queue(name).wrapup_seconds),
                round(settings.queue(name).service_level_seconds),
            )
            for name in (sorted(settings.queues) or ["support"])
        ),
        other_lookup=other_lookup(settings.routing.other_node),
        server_id=settings.server_id if len({r.server for r in settings.reps().lines}) > 1 else "",
        origin_server=settings.server_id,
    )


def render_asterisk_options(cfg: AsteriskConfig) -> str:
    """asterisk.conf's systemname, for a server that shares the database with others: Asterisk
    then starts every Uniqueid and Linkedid with it, so no two servers' calls share an id (a
    callback through another server names the cut-off by its id)."""
    lines = _header(
        "the systemname this server needs in asterisk.conf (several servers, one database)",
        "not an include file: merge into the [options] section of asterisk.conf, then restart Asterisk",
    )
    lines += [
        "; Each server sharing acd's database needs its own systemname; acd's ACD_SERVER_ID is a",
        "; good choice. Asterisk then names its calls <systemname>-<epoch>.<n>.",
        "[options]",
        f"systemname = {cfg.server_id}",
        "",
    ]
    return "\n".join(lines)


def _header(what: str, include: str) -> list[str]:
    return [
        f"; acd: {what}",
        "; Generated by `acd asterisk-config`; do not edit by hand, regenerate when agents change.",
        f"; Use: {include}",
        "",
    ]


def render_queues(cfg: AsteriskConfig) -> str:
    lines = _header(
        "personal callback-affinity queues, one per agent",
        "#include queues-acd.conf at the end of queues.conf",
    )
    lines += [
        "; Shared queues keep weight 0 (the default). In queues.conf [general], shared_lastcall = yes",
        "; makes the shared queue's wrap-up hold the agent here too, so a callback never skips it.",
        "; Members are not listed: acd adds, pauses and removes each agent here over AMI as the agent",
        "; logs in, pauses and logs out of the shared queues (ACD_AFFINITY__MIRROR_MEMBERS).",
        "",
        "[acd-agent-template](!)",
        "strategy = ringall",
        "; heavier than every shared queue: the agent, once free, takes the waiting callback first",
        f"weight = {PERSONAL_WEIGHT}",
        "; a busy agent is waited for, never rung on top of a call",
        "ringinuse = no",
        "; one ring of the agent, seconds (ACD_AFFINITY__RING_TIMEOUT_SECONDS)",
        f"timeout = {cfg.ring_timeout}",
        "; before a second ring: acd withdraws the caller on the first ring without answer",
        f"retry = {RETRY_SECONDS}",
        "; the dialplan's bounded wait wins over a ring in progress",
        "timeoutpriority = app",
        "; never wait for an agent who cannot take the call; leave at once when they pause or log out",
        "joinempty = paused,unavailable,invalid",
        "leavewhenempty = paused,unavailable,invalid",
        "wrapuptime = 0",
        "autopause = no",
        "announce-frequency = 0",
        "periodic-announce-frequency = 0",
        "announce-position = no",
        "announce-holdtime = no",
        "setinterfacevar = yes",
        "setqueueentryvar = yes",
        "",
    ]
    for agent, queue in cfg.agents:
        lines.append(f"[{queue}](acd-agent-template)  ; {agent}")
    if not cfg.agents:
        lines.append("; (no agents given: pass --agent or set ACD_AFFINITY__AGENTS)")
    return "\n".join(lines) + "\n"


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def render_dialplan(cfg: AsteriskConfig) -> str:
    fallback = " | ".join(f'"${{QUEUESTATUS}}" = "{s}"' for s in FALLBACK_STATUSES)
    base = lookup_base(cfg.lookup_host, cfg.lookup_port)
    query = "&".join(
        f"{name}=${{URIENCODE(${{{var}}})}}"
        for name, var in (
            ("queue", "ACD_QUEUE"),
            ("caller", "CALLERID(num)"),
            ("account", "ACD_ACCOUNT"),
            ("uniqueid", "UNIQUEID"),
        )
    )
    bound = _seconds(cfg.lookup_timeout)
    opts = cfg.queue_options
    predial = f"b({PREDIAL_CONTEXT}^s^1(${{ACD_SCREENPOP_URL}}))"
    width = max(len(var) for _, var in FIELDS)
    lines = _header(
        "the routing context: ask acd, then the agent's personal queue, then the shared queue",
        "#include extensions-acd.conf in extensions.conf",
    )
    lines += [
        "; Enter from your inbound context, once per call, instead of Queue():",
        ";   same => n,Set(ACD_QUEUE=support)          ; the shared queue",
        ";   same => n,Set(ACD_ACCOUNT=${ACCOUNT})     ; optional: an account number wins over the caller id",
        f";   same => n,Goto({ROUTE_CONTEXT},route,1)",
        ";",
        "; Needs func_curl (with res_curl), func_strings (HASH, ClearHash) and func_uri (URIENCODE):",
        "; loaded by default; with autoload=no in modules.conf add load => func_curl.so (and the others).",
        f"; acd answers GET {base}/route within {bound} s (ACD_ROUTING__TIMEOUT_SECONDS); down, slow or",
        "; frozen, CURL() gives up by then (Asterisk logs a WARNING with the URL) and the caller goes",
        "; to the shared queue. The answer fills HASH(acd,...) and these channel variables:",
    ]
    described = {
        "ACD_ROUTE": "agent | queue (empty: acd was down, late or cut short)",
        "ACD_REASON": "the decision's reason (original_agent, fallback_unavailable, no_history, ...)",
        "ACD_DECISION": "the decision id, confirmed to acd with UserEvent(AcdRouted)",
        "ACD_PREV_AGENT": "who had the earlier call (state interface)",
        "ACD_PREV_AGENT_NAME": "their name",
        "ACD_CALLBACK_OF": "the earlier call's id",
        "ACD_CUTOFF_AT": "when it was cut off (epoch seconds)",
        "ACD_SCREENPOP_URL": "acd's screen pop for this call: Queue()'s URL, Call-Info for PJSIP",
        "ACD_CALL_URL": "this call in acd's HTTP API",
        "ACD_CALLBACK_URL": "the earlier call in acd's HTTP API (its outcomes and notes)",
        "ACD_AGENT_QUEUE": "the original agent's personal queue",
        "ACD_WAIT": "the bounded wait for them, seconds",
        "ACD_QUEUE_OPTS": "n when the agent is free (one ring, no retry)",
        "ACD_PRIO": "QUEUE_PRIO for the shared queue after the personal leg",
    }
    lines += [f";   {var:<{width}} {described[var]}" for _, var in FIELDS]
    lines += [
        "",
        f"[{ROUTE_CONTEXT}]",
        "exten => route,1,NoOp(acd: where does this caller for ${ACD_QUEUE} go)",
        " same => n,ClearHash(acd)",
        f" same => n,Set(CURLOPT(conntimeout)={bound})",
        f" same => n,Set(CURLOPT(httptimeout)={bound})",
        " same => n,Set(CURLOPT(hashcompat)=yes)",
    ]
    if cfg.other_lookup:
        lines.append(" same => n,Set(ACD_ASKED=${STRFTIME(,,%s.%3q)})")
    lines += [
        f" same => n,Set(HASH(acd)=${{CURL({base}/route?{query})}})",
        ' same => n,GotoIf($["${HASH(acd,end)}" = "1"]?answered)',
        " same => n,ClearHash(acd)  ; no answer, or one cut short: nothing of it counts",
    ]
    if cfg.other_lookup:
        half = _seconds(cfg.lookup_timeout / 2)
        lines += [
            "; Refused at once (this node stands by, or is down): ask the other node of the pair.",
            "; Not after a timeout: the caller has waited the bound already, and waits no second one.",
            f" same => n,GotoIf($[${{STRFTIME(,,%s.%3q)}} - ${{ACD_ASKED}} >= {half}]?answered)",
            f" same => n,Set(HASH(acd)=${{CURL(http://{cfg.other_lookup}/route?{query})}})",
            ' same => n,GotoIf($["${HASH(acd,end)}" = "1"]?answered)',
            " same => n,ClearHash(acd)",
        ]
    first, *rest = FIELDS
    lines.append(f" same => n(answered),Set({first[1]}=${{HASH(acd,{first[0]})}})")
    lines += [f" same => n,Set({var}=${{HASH(acd,{key})}})" for key, var in rest]
    lines += [
        ' same => n,GotoIf($["${ACD_DECISION}" = ""]?go)',
        " same => n,UserEvent(AcdRouted,Decision: ${ACD_DECISION})",
        ' same => n(go),GotoIf($["${ACD_ROUTE}" = "agent"]?personal)',
        f" same => n(shared),Queue(${{ACD_QUEUE}},{opts}{predial},${{ACD_SCREENPOP_URL}})",
        " same => n,Hangup()",
        f" same => n(personal),Queue(${{ACD_AGENT_QUEUE}},{opts}${{ACD_QUEUE_OPTS}}{predial},"
        "${ACD_SCREENPOP_URL},,${ACD_WAIT})",
        f" same => n,GotoIf($[{fallback}]?fallback)",
        " same => n,Hangup()",
        " same => n(fallback),Set(QUEUE_PRIO=${ACD_PRIO})",
        " same => n,Goto(shared)",
        "",
        "; Queue()'s b() option runs this on each agent's channel before it rings: a PJSIP agent's call",
        "; carries the screen pop as a Call-Info header (softphones that support it open the link).",
        f"[{PREDIAL_CONTEXT}]",
        'exten => s,1,GotoIf($["${ARG1}" = "" | "${CHANNEL(channeltype)}" != "PJSIP"]?done)',
        r" same => n,Set(PJSIP_HEADER(add,Call-Info)=<${ARG1}>\;purpose=info)",
        " same => n(done),Return()",
        "",
        *_origin_contexts(cfg),
    ]
    return "\n".join(lines)


def _origin_contexts(cfg: AsteriskConfig) -> list[str]:
    """Calls passed between servers over a trunk: both sides (the module docstring says why)."""
    here = f"{cfg.origin_server}:${{CHANNEL(linkedid)}}"
    return [
        "; Calls passed to another acd server over a trunk: with these the two legs are one customer",
        "; call in acd's figures (the receiving server's call continues this one); without, two.",
        ";   IAX2 trunk:  same => n,Gosub(acd-origin-out,iax2,1)",
        ";                same => n,Dial(IAX2/other-server/${EXTEN})",
        f";   PJSIP trunk: same => n,Dial(PJSIP/${{EXTEN}}@other-server,,b({ORIGIN_OUT_CONTEXT}^pjsip^1))",
        f"[{ORIGIN_OUT_CONTEXT}]",
        f"exten => iax2,1,Set(IAXVAR(ACD_ORIGIN)={here})",
        " same => n,Return()",
        f"exten => pjsip,1,Set(PJSIP_HEADER(add,{ORIGIN_HEADER})={here})",
        " same => n,Return()",
        "",
        "; On the receiving server, first thing in the context the trunk's calls arrive in:",
        f";   same => n,Gosub({ORIGIN_IN_CONTEXT},s,1)",
        "; It sets ACD_ORIGIN (<server>:<call id>, empty when the sender passed none) and tells acd.",
        f"[{ORIGIN_IN_CONTEXT}]",
        "exten => s,1,Set(ACD_ORIGIN=)",
        ' same => n,GotoIf($["${CHANNEL(channeltype)}" = "PJSIP"]?pjsip)',
        ' same => n,GotoIf($["${CHANNEL(channeltype)}" != "IAX2"]?done)',
        " same => n,Set(ACD_ORIGIN=${IAXVAR(ACD_ORIGIN)})",
        " same => n,Goto(tell)",
        f" same => n(pjsip),Set(ACD_ORIGIN=${{PJSIP_HEADER(read,{ORIGIN_HEADER})}})",
        ' same => n(tell),GotoIf($["${ACD_ORIGIN}" = ""]?done)',
        " same => n,UserEvent(AcdOrigin,Origin: ${ACD_ORIGIN})",
        " same => n(done),Return()",
        "",
    ]


def _per_class(needs: Iterable[tuple[str, str]]) -> list[str]:
    """``;   class     what: why`` comment lines, one class's lines together, in table order."""
    grouped: dict[str, list[str]] = {}
    for cls, text in needs:
        grouped.setdefault(cls, []).append(text)
    lines = []
    for cls, texts in grouped.items():
        lines += [f";   {cls if i == 0 else '':<9} {text}" for i, text in enumerate(texts)]
    return lines


def render_manager(cfg: AsteriskConfig) -> str:
    """The manager user, from the one table of what acd needs (:mod:`acd.ami.classes`)."""
    read_needs = [(c, READ_NEEDS[c]) for c in in_asterisk_order(READ_NEEDS)]
    read = ",".join(c for c, _ in read_needs)
    write = ",".join(least_write_classes(["monitoring", "affinity"]))
    unclassed = ", ".join(n.action for n in WRITE_NEEDS if not n.classes)
    lines = _header(
        "the AMI user acd logs in as (a user stanza only, nothing that changes AMI for others)",
        "#include manager-acd.conf at the end of manager.conf (or copy the stanza in)",
    )
    lines += [
        f"[{cfg.ami_user}]",
        "; the same value as ACD_AMI__SECRET (better given to acd as a systemd credential)",
        "secret = CHANGE-ME",
        "deny = 0.0.0.0/0.0.0.0",
        "permit = 127.0.0.1/255.255.255.255",
        "writetimeout = 1000",
        "; read classes (events acd reads):",
    ]
    lines += _per_class(read_needs)
    lines += [
        "; not dialplan: VarSet/Newexten are most of AMI's traffic, and acd needs none of it.",
        f"read = {read}",
    ]
    lines += ["; write classes (actions acd sends):"]
    lines += _per_class((n.recommended, f"{n.action}: {n.why}") for n in WRITE_NEEDS if n.recommended)
    lines += [f"; ({unclassed}: allowed to every manager user)"]
    lines += [
        "; Asterisk allows an action when the user has any one of its classes, so a broader class",
        "; grants more than it says (system would also allow GetConfig, which reads manager.conf).",
        f"write = {write}",
        "",
    ]
    return "\n".join(lines)


def render_manager_general(cfg: AsteriskConfig) -> str:
    """The [general] settings acd relies on: a separate piece, to be merged by hand, because they
    change AMI for every manager client on this Asterisk."""
    lines = _header(
        "the settings acd needs in the general section of manager.conf",
        "not an include file: merge these lines into the general section manager.conf already has",
    )
    lines += [
        "; They apply to every manager client, not only acd: review them against your other users.",
        "[general]",
        "enabled = yes",
        "port = 5038",
        "; loopback only: acd runs on the Asterisk host",
        "bindaddr = 127.0.0.1",
        "; Required: events carry Asterisk's clock. Without it (Asterisk's default) acd times each",
        "; event when it reads it, so anything that stalls acd (a paused VM, a swap storm) shifts the",
        "; waits and talk times of every event read after it. acd check warns when it is off.",
        "timestampevents = yes",
        "",
    ]
    return "\n".join(lines)


def render_queues_example(cfg: AsteriskConfig) -> str:
    """An example queues.conf around the generated file: what the shared queues must agree with."""
    lines = _header(
        "example queues.conf for the shared queues (from ACD_QUEUES, else one 'support' queue)",
        "compare with your queues.conf; only the settings commented here matter to acd",
    )
    lines += [
        "[general]",
        "; the shared queue's wrap-up also holds the agent in their personal queue",
        "shared_lastcall = yes",
        "",
    ]
    for name, wrapup, sl in cfg.shared_queues:
        lines += [
            f"[{name}]",
            "strategy = rrmemory",
            "; lighter than the personal queues (weight 10): waiting callbacks go first",
            "weight = 0",
            "ringinuse = no",
            "; the same as ACD_QUEUE_DEFAULTS__WRAPUP_SECONDS / ACD_QUEUES (AMI does not show wrap-up)",
            f"wrapuptime = {wrapup}",
            "; the same as acd's service-level threshold: the affinity wait never exceeds it",
            f"servicelevel = {sl}",
            "",
        ]
    lines += ["#include queues-acd.conf", ""]
    return "\n".join(lines)


def render(cfg: AsteriskConfig) -> dict[str, str]:
    """File name -> content, in :data:`FILES` order."""
    texts = (
        render_queues(cfg),
        render_dialplan(cfg),
        render_manager(cfg),
        render_manager_general(cfg),
        render_queues_example(cfg),
    )
    files = dict(zip(FILES, texts, strict=True))
    if cfg.server_id:
        files["asterisk.conf.example"] = render_asterisk_options(cfg)
    return files
