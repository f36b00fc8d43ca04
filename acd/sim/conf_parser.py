"""Reader for Asterisk's ``.conf`` syntax (the subset manager.conf and queues.conf use).

Why our own: the simulator must run the very files acd generates for a real Asterisk, and those
use templates (``[name](!)``), inheritance (``[q](tmpl)``), appended categories (``[q](+)``),
``;`` comments and repeated keys (``member =``). configparser handles none of these.
Errors name the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class ConfError(ValueError):
    """A line the reader cannot understand; the message names file and line."""


@dataclass
class Section:
    name: str
    template: bool = False
    items: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str, default: str | None = None) -> str | None:
        """Last value of ``key`` (later lines override earlier ones, as in Asterisk)."""
        found = default
        for k, v in self.items:
            if k == key:
                found = v
        return found

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.items if k == key]


def parse_conf(text: str, source: str = "<string>") -> list[Section]:
    """Sections in file order, templates resolved; templates themselves are returned flagged."""
    sections: dict[str, Section] = {}
    order: list[str] = []
    cur: Section | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("#"):
            raise ConfError(f"{source}:{lineno}: directive {line.split()[0]!r} is not supported")
        if line.startswith("["):
            end = line.find("]")
            if end < 0:
                raise ConfError(f"{source}:{lineno}: unterminated section header: {raw.strip()!r}")
            name = line[1:end].strip()
            opts = line[end + 1 :].strip()
            parents: list[str] = []
            template = append = False
            if opts:
                if not (opts.startswith("(") and opts.endswith(")")):
                    raise ConfError(f"{source}:{lineno}: bad section options {opts!r}")
                for opt in (o.strip() for o in opts[1:-1].split(",")):
                    if opt == "!":
                        template = True
                    elif opt == "+":
                        append = True
                    elif opt:
                        if opt not in sections:
                            raise ConfError(f"{source}:{lineno}: unknown template {opt!r}")
                        parents.append(opt)
            if append:
                if name not in sections:
                    raise ConfError(f"{source}:{lineno}: (+) on unknown section {name!r}")
                cur = sections[name]
                continue
            cur = Section(name, template)
            for p in parents:
                cur.items.extend(sections[p].items)
            if name not in sections:
                order.append(name)
            sections[name] = cur
            continue
        if cur is None:
            raise ConfError(f"{source}:{lineno}: setting outside a section: {raw.strip()!r}")
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfError(f"{source}:{lineno}: expected 'key = value', got {raw.strip()!r}")
        cur.items.append((key.strip().lstrip(">").strip().lower(), value.strip().lstrip(">").strip()))
    return [sections[n] for n in order]


def read_conf(path: str | Path) -> list[Section]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfError(f"{p}: cannot read: {err.strerror}") from err
    return parse_conf(text, str(p))
