"""AMI wire codec: bytes in, header maps out; header pairs in, bytes out.

Why it exists instead of panoramisk's parser:
- Asterisk writes UTF-8, and a read can end in the middle of a character. panoramisk decodes each
  read with ``errors='ignore'`` and so silently drops such characters ("José" -> "Jos"). Here a
  message is decoded only once its terminating blank line has arrived, so a split can never land
  inside a character.
- It is the hot path (a real Asterisk answers QueueStatus at ~100k messages/s and disconnects a
  client that reads too slowly), so it does as little per message as the format allows: one
  decode per read, one ``split`` per message, and the lines made into a dict by C code alone
  (``dict(map(str.split, ...))``, no Python frame per line), which reads faster than a bare
  ``partition`` loop; anything unusual in a message sends it to a careful, slower parse.

Rules, as the captures in tests/fixtures/ami show them:
- the first line of a connection is a banner (``Asterisk Call Manager/11.0.0``) with no blank line
  after it;
- a message is ``Key: Value`` lines ended by CRLF, closed by an empty line;
- a header may repeat (``Output:`` of ``Command``, ``ChanVariable``); repeats are joined with "\\n"
  so no value is lost;
- anything else (a line without ``": "``, LF-only framing, an oversized message) is reported as a
  :class:`FrameAnomaly` and the stream carries on: bad input is counted, never fatal.

The simulator shares this module (and only this module) with the daemon: it encodes with it,
it never reads the daemon's model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat

__all__ = [
    "BANNER_PREFIX",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FrameAnomaly",
    "Framer",
    "HeaderError",
    "encode_message",
    "parse_pairs",
]

BANNER_PREFIX = "Asterisk Call Manager/"
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20  # a QueueStatus entry is ~600 bytes; 1 MiB is far past sane

_CRLF2 = b"\r\n\r\n"
_LF2 = b"\n\n"
# Arguments of the C-level maps on the hot path (infinite, so one instance serves every call).
_split = str.split
_COLON_SP = repeat(": ")
_ONCE = repeat(1)
_CRLFS = repeat("\r\n")


@dataclass(frozen=True, slots=True)
class FrameAnomaly:
    """Something on the wire that is not well-formed AMI; kept as data, never raised."""

    kind: str  # "bad_line" | "lf_framing" | "oversized" | "bad_banner"
    detail: str


class HeaderError(ValueError):
    """A header name or value that would corrupt the framing (CR/LF injection, empty name)."""


class Framer:
    """Incremental AMI reader. Feed it bytes as they arrive; it returns complete messages.

    ``feed`` never raises on bad input: malformed lines and oversized messages are turned into
    :class:`FrameAnomaly` records, collected in ``anomalies`` until the caller drains them with
    :meth:`pop_anomalies`.
    """

    __slots__ = ("_buf", "_expect_banner", "anomalies", "banner", "keep", "max_message_bytes", "skipped")

    def __init__(
        self,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        expect_banner: bool = True,
        keep: frozenset[str] | None = None,
    ):
        self._buf = b""
        self._expect_banner = expect_banner
        self.banner: str | None = None
        self.max_message_bytes = max_message_bytes
        self.anomalies: list[FrameAnomaly] = []
        # ``keep``: event names the reader uses. Any other event is framed and counted in
        # ``skipped`` by name, but no header map is built for it (VarSet, Newexten, Cdr... are most
        # of the traffic of a user with read=all). Events carrying an ActionID are always kept:
        # they answer one of our actions.
        self.keep = keep
        self.skipped: dict[str, int] = {}

    def reset(self) -> None:
        """Forget everything buffered: a new connection starts with a new banner."""
        self._buf = b""
        self._expect_banner = True
        self.banner = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def pop_anomalies(self) -> list[FrameAnomaly]:
        out, self.anomalies = self.anomalies, []
        return out

    def feed(self, data: bytes | memoryview) -> list[dict[str, str]]:
        """The complete messages in what has arrived so far. ``data`` may be a view of the
        reader's own buffer: nothing here keeps it past the call."""
        buf = self._buf + data if self._buf else bytes(data)
        if self._expect_banner:
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) > self.max_message_bytes:
                    self._overflow(buf)
                    return []
                self._buf = buf
                return []
            first = buf[:nl].rstrip(b"\r").decode("utf-8", "replace")
            self._expect_banner = False
            if first.startswith(BANNER_PREFIX):
                self.banner = first
                buf = buf[nl + 1 :]
            # else: no banner (a capture cut mid-stream); parse it as part of a message
        end = buf.rfind(_CRLF2)
        if end < 0:
            return self._feed_slow(buf)
        self._buf = buf[end + 4 :]
        if len(self._buf) > self.max_message_bytes:
            self._overflow(self._buf)
        # Decoded straight from ``buf`` (no copy of the complete part first: at a few hundred KB
        # a read, each copy is a fresh allocation the kernel has to fault in).
        text = str(memoryview(buf)[:end], "utf-8", "replace")
        blocks = text.split("\r\n\r\n")
        keep = self.keep
        if keep is not None:
            blocks = self._kept(blocks, keep)
        if len(text) > self.max_message_bytes:  # one of them may be too long: look at each
            return [msg for msg in map(self._parse_block, blocks, _CRLFS) if msg]
        out: list[dict[str, str]] = []
        append = out.append
        for lines in map(_split, blocks, _CRLFS):
            # The common case, all in C: one ``Key: Value`` per line, no key twice. A line
            # without ": " makes ``dict`` raise, a repeated key makes the map shorter than the
            # lines: both go the careful way.
            try:
                msg = dict(map(_split, lines, _COLON_SP, _ONCE))
            except ValueError:
                msg = self._parse_block_slow(lines)
            else:
                if len(msg) != len(lines):
                    msg = self._parse_block_slow(lines)
            if msg:
                append(msg)
        return out

    def _kept(self, blocks: list[str], keep: frozenset[str]) -> list[str]:
        """The blocks worth parsing: events the reader uses, anything answering our actions, and
        everything that is not an event. The others are counted by name, unparsed."""
        out: list[str] = []
        append = out.append
        skipped = self.skipped
        for block in blocks:
            if block.startswith("Event: "):
                end = block.find("\r", 7)
                name = block[7:end] if end > 0 else block[7:]
                if name not in keep and "ActionID: " not in block:
                    skipped[name] = skipped.get(name, 0) + 1
                    continue
            append(block)
        return out

    def _feed_slow(self, buf: bytes) -> list[dict[str, str]]:
        """No CRLF blank line yet: either an incomplete message, or a peer using bare LF."""
        if b"\r" not in buf and _LF2 in buf:
            end = buf.rfind(_LF2)
            complete, self._buf = buf[:end], buf[end + 2 :]
            out: list[dict[str, str]] = []
            for block in complete.decode("utf-8", "replace").split("\n\n"):
                if block.strip():
                    self.anomalies.append(FrameAnomaly("lf_framing", "message framed with LF, not CRLF"))
                    msg = self._parse_block(block, "\n")
                    if msg:
                        out.append(msg)
            return out
        if len(buf) > self.max_message_bytes:
            self._overflow(buf)
            return []
        self._buf = buf
        return []

    def _overflow(self, buf: bytes) -> None:
        detail = f"{len(buf)} bytes without a message end (cap {self.max_message_bytes})"
        self.anomalies.append(FrameAnomaly("oversized", detail))
        # Resynchronise on the next message boundary, if one is in what we drop.
        nxt = buf.find(_CRLF2, self.max_message_bytes)
        self._buf = buf[nxt + 4 :] if nxt >= 0 else b""

    def _parse_block(self, block: str, sep: str) -> dict[str, str]:
        if len(block) > self.max_message_bytes:
            self.anomalies.append(FrameAnomaly("oversized", f"{len(block)} characters in one message"))
            return {}
        lines = block.split(sep)
        try:  # as in feed()
            msg = dict(map(_split, lines, _COLON_SP, _ONCE))
        except ValueError:
            return self._parse_block_slow(lines)
        if len(msg) == len(lines):
            return msg
        return self._parse_block_slow(lines)

    def _parse_block_slow(self, lines: list[str]) -> dict[str, str]:
        """Repeated headers, ``Key:`` with nothing after it, blank or malformed lines."""
        msg: dict[str, str] = {}
        for line in lines:
            key, colon, value = line.partition(": ")
            if not colon:
                if line.endswith(":") and ": " not in line:  # "Key:" with an empty value
                    key, value = line[:-1], ""
                elif not line.strip():
                    continue
                else:
                    self.anomalies.append(FrameAnomaly("bad_line", line[:200]))
                    continue
            if key in msg:
                msg[key] = msg[key] + "\n" + value
            else:
                msg[key] = value
        return msg


def parse_pairs(block: str) -> list[tuple[str, str]]:
    """One message's headers in wire order, repeats kept: for conformance checks, not the hot path."""
    pairs: list[tuple[str, str]] = []
    for line in block.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        key, _, value = line.partition(": ")
        if key.endswith(":") and not _:
            key = key[:-1]
        pairs.append((key, value))
    return pairs


def _check(text: str, what: str) -> str:
    if "\r" in text or "\n" in text:
        raise HeaderError(f"{what} contains a line break: {text[:40]!r}")
    return text


def encode_message(headers: Mapping[str, object] | Iterable[tuple[str, object]]) -> bytes:
    """Serialise one AMI message. Values are ``str()``-ed; a CR or LF anywhere is refused.

    A list of pairs keeps order and may repeat a key (``Variable`` twice in Originate).
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    parts: list[str] = []
    for key, value in items:
        if not key:
            raise HeaderError("empty header name")
        parts.append(f"{_check(key, 'header name')}: {_check(str(value), f'value of {key}')}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")
