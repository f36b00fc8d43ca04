"""extensions.conf subset: parsing, extension matching and the argument syntax.

Pure: no I/O beyond reading the file, no PBX state. The interpreter (``acd.sim.interp``) walks the
parsed priorities; this module answers "which line runs next", ``expressions`` "what does this
text expand to". Anything outside the subset is a :class:`DialplanError` naming the file and line,
so a dialplan the simulator cannot run honestly fails instead of doing something else.

Applications: Answer, NoOp, Verbose, Set, Goto, GotoIf, Wait, Playback and MusicOnHold (waits),
AGI (FastAGI), Queue, Dial (one Local/exten@context member phone, or a trunk to another simulator:
acd/sim/trunks.py), UserEvent, ClearHash, Hangup, Gosub and Return (Queue()'s own b() predial
handler is not run).

Supported syntax: ``[context]``, ``exten => <ext|pattern>,<prio|n|n(label)>,App(args)``,
``same => ...``, ``include => other`` (searched after the context's own extensions), ``;``
comments. Patterns: ``_`` prefix with X Z N . ! and ``[...]`` classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

APPS = frozenset(
    {
        "Answer",
        "NoOp",
        "Verbose",
        "Set",
        "Goto",
        "GotoIf",
        "Wait",
        "Playback",
        "MusicOnHold",
        "AGI",
        "Queue",
        "Dial",
        "UserEvent",
        "ClearHash",
        "Hangup",
        "Gosub",
        "Return",
    }
)


class DialplanError(ValueError):
    """A dialplan line or expression outside the supported subset; names file and line."""


@dataclass(frozen=True)
class Line:
    app: str
    args: str  # raw, substituted at run time
    where: str  # "file:line"


@dataclass
class Extension:
    pattern: str
    prios: dict[int, Line] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)

    def matches(self, exten: str) -> bool:
        return match_pattern(self.pattern, exten)


@dataclass
class Context:
    name: str
    extens: list[Extension] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)


_CLASS = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    body = pattern[1:]
    while i < len(body):
        ch = body[i]
        up = ch.upper()
        if up in _CLASS:
            out.append(_CLASS[up])
        elif ch == ".":
            out.append(".+")
        elif ch == "!":
            out.append(".*")
        elif ch == "[":
            end = body.find("]", i)
            if end < 0:
                raise DialplanError(f"unterminated [ in pattern {pattern!r}")
            out.append("[" + re.escape(body[i + 1 : end]).replace("\\-", "-") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def match_pattern(pattern: str, exten: str) -> bool:
    if not pattern.startswith("_"):
        return pattern == exten
    return _pattern_regex(pattern).match(exten) is not None


@dataclass
class Dialplan:
    contexts: dict[str, Context]
    source: str = "<string>"

    def find(self, context: str, exten: str, _seen: frozenset[str] = frozenset()) -> Extension | None:
        """The extension that runs ``exten`` in ``context``: exact match first, then patterns
        (the most specific, i.e. the longest literal prefix), then included contexts."""
        ctx = self.contexts.get(context)
        if ctx is None or context in _seen:
            return None
        for e in ctx.extens:
            if e.pattern == exten:
                return e
        pats = [e for e in ctx.extens if e.pattern.startswith("_") and e.matches(exten)]
        if pats:
            return max(pats, key=lambda e: (len(e.pattern.rstrip(".!")), -ctx.extens.index(e)))
        for inc in ctx.includes:
            found = self.find(inc, exten, _seen | {context})
            if found is not None:
                return found
        return None


_LINE = re.compile(r"^(exten|same|include)\s*=>?\s*(.*)$", re.IGNORECASE)
_APP = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_dialplan(text: str, source: str = "<string>") -> Dialplan:
    contexts: dict[str, Context] = {}
    cur: Context | None = None
    last: Extension | None = None
    last_prio = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        where = f"{source}:{lineno}"
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if line.startswith("["):
            end = line.find("]")
            if end < 0:
                raise DialplanError(f"{where}: unterminated context header")
            name = line[1:end].strip()
            if name in ("general", "globals"):
                cur = None
                continue
            cur = contexts.setdefault(name, Context(name))
            last, last_prio = None, 0
            continue
        m = _LINE.match(line)
        if m is None:
            if cur is None:
                continue  # [general]/[globals] settings
            raise DialplanError(f"{where}: cannot parse {raw.strip()!r}")
        if cur is None:
            raise DialplanError(f"{where}: {m.group(1)} outside a context")
        kind, rest = m.group(1).lower(), m.group(2).strip()
        if kind == "include":
            cur.includes.append(rest)
            continue
        if kind == "same":
            if last is None:
                raise DialplanError(f"{where}: 'same' without a preceding exten")
            ext, prio_s, app_s = last.pattern, *_split2(rest, where)
        else:
            parts = rest.split(",", 2)
            if len(parts) < 3:
                raise DialplanError(f"{where}: expected exten => ext,priority,App(args)")
            ext, prio_s, app_s = parts[0].strip(), parts[1].strip(), parts[2].strip()
        label = None
        lm = re.fullmatch(r"(\w+|n)\((\w+)\)", prio_s)
        if lm:
            prio_s, label = lm.group(1), lm.group(2)
        if prio_s == "hint":
            continue
        if prio_s == "n":
            if last is None or last.pattern != ext:
                raise DialplanError(f"{where}: priority 'n' with no earlier priority for {ext}")
            prio = last_prio + 1
        elif prio_s.isdigit():
            prio = int(prio_s)
        else:
            raise DialplanError(f"{where}: bad priority {prio_s!r}")
        am = _APP.match(app_s)
        if am is None:
            raise DialplanError(f"{where}: cannot parse application {app_s!r}")
        app, args = am.group(1), am.group(2) or ""
        canon = next((a for a in APPS if a.lower() == app.lower()), None)
        if canon is None:
            raise DialplanError(f"{where}: application {app}() is not supported by the simulator")
        target = next((e for e in cur.extens if e.pattern == ext), None)
        if target is None:
            if ext.startswith("_"):
                _pattern_regex(ext)  # validate now
            target = Extension(ext)
            cur.extens.append(target)
        target.prios[prio] = Line(canon, args, where)
        if label:
            target.labels[label] = prio
        last, last_prio = target, prio
    return Dialplan(contexts, source)


def load_dialplan(path: str | Path) -> Dialplan:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise DialplanError(f"{p}: cannot read: {err.strerror}") from err
    return parse_dialplan(text, str(p))


def _strip_comment(line: str) -> str:
    out = []
    i = 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            out.append(line[i + 1])
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out)


def _split2(rest: str, where: str) -> tuple[str, str]:
    parts = rest.split(",", 1)
    if len(parts) < 2:
        raise DialplanError(f"{where}: expected same => priority,App(args)")
    return parts[0].strip(), parts[1].strip()


def split_args(args: str) -> list[str]:
    """Split application arguments on top-level commas (not inside ``${}``, ``$[]``, ``()``, quotes)."""
    out: list[str] = []
    depth = 0
    quote = False
    cur: list[str] = []
    for ch in args:
        if ch == '"':
            quote = not quote
        elif not quote and ch in "([{":
            depth += 1
        elif not quote and ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def separate_args(text: str, delim: str = ",", limit: int = 100) -> list[str]:
    """Asterisk's ``AST_STANDARD_APP_ARGS`` (``__ast_app_separate_args`` removing quotes and
    backslashes): delimiters inside ``()``, ``[]`` or quotes do not split; ``\\x`` is a literal x;
    at most ``limit`` arguments, the last one keeping the rest. An empty text has no argument."""
    out: list[str] = []
    i, n = 0, len(text)
    ended_on_delim = False
    while i < n and len(out) < limit - 1:
        cur: list[str] = []
        paren = bracket = 0
        quote = False
        ended_on_delim = False
        while i < n:
            ch = text[i]
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren = max(0, paren - 1)
            elif ch == "[":
                bracket += 1
            elif ch == "]":
                bracket = max(0, bracket - 1)
            elif ch == '"' and delim != '"':
                quote = not quote
                i += 1
                continue
            elif ch == "\\":
                i += 1
                if i < n:
                    cur.append(text[i])
                    i += 1
                continue
            elif ch == delim and not paren and not quote and not bracket:
                i += 1
                ended_on_delim = True
                break
            cur.append(ch)
            i += 1
        out.append("".join(cur))
    if i < n:
        out.append(text[i:])
    elif ended_on_delim:
        out.append("")
    return out
