"""func_curl as Asterisk 22 runs it: ``CURL(url[,post-data])`` and ``CURLOPT(<option>)``.

What the simulator must reproduce, because acd's dialplan is built around it (funcs/func_curl.c,
main/utils.c, funcs/func_strings.c; tried on a real Asterisk 22):

- Time: ``CURLOPT(httptimeout)`` bounds the whole transfer and ``CURLOPT(conntimeout)`` the
  connect, both in seconds with fractions (kept in milliseconds). Unset, func_curl's own default
  is 180 s for the transfer (libcurl waits up to 300 s for a connect). Timing is wall-clock, as
  on a real Asterisk, whatever the simulated clock does.
- The body received before a timeout is still the result (a half-sent answer fills some keys);
  the HTTP status is not looked at (an error page's body is the result too). A refused connect
  fails at once; a failure leaves the result empty. Each failure is logged at WARNING with the URL.
- A URL with CR or LF is refused (ERROR, nothing sent); one with spaces or other control
  characters is refused by libcurl ("URL using bad/illegal format"); a host name must be resolved
  (the simulator resolves only ``localhost``: use an IP literal).
- ``hashcompat=yes`` turns ``a=1&b=x%20y`` into the values ``1,x y`` and sets ``~ODBCFIELDS~`` to
  ``a,b``, for ``Set(HASH(name)=${CURL(...)})``; names and values are URL-decoded (``%XX``;
  ``legacy`` also turns ``+`` into a space), commas and backslashes escaped. An empty result sets
  no ``~ODBCFIELDS~``, so an earlier one stays (the stale-key hazard).
- Options are per channel (a datastore), over the global ones; reading ``CURLOPT(x)`` gives the
  value as Asterisk formats it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "KNOWN",
    "SIMULATED",
    "CurlOptionError",
    "CurlResult",
    "fetch",
    "read_option",
    "uri_decode",
    "uri_encode",
    "write_option",
]

USER_AGENT = "asterisk-libcurl-agent/1.0"
DEFAULT_TIMEOUT_MS = 180_000  # func_curl's curl_instance_init: CURLOPT_TIMEOUT 180
DEFAULT_CONNECT_MS = 300_000  # libcurl's own connect timeout
_MARK = frozenset("-_.!~*'()")
_MS_OPTIONS = ("conntimeout", "httptimeout")
KNOWN = frozenset(
    {
        "header",
        "proxy",
        "proxyport",
        "proxytype",
        "dnstimeout",
        "userpwd",
        "proxyuserpwd",
        "maxredirs",
        "referer",
        "useragent",
        "cookie",
        "ftptimeout",
        "httptimeout",
        "conntimeout",
        "ftptext",
        "ssl_verifypeer",
        "hashcompat",
    }
)
SIMULATED = frozenset({"conntimeout", "httptimeout", "hashcompat", "useragent"})


class CurlOptionError(ValueError):
    """``CURLOPT(<name>)`` that Asterisk does not know (it logs ERROR "Unrecognized option")."""


def uri_encode(text: str) -> str:
    """``URIENCODE()`` (ast_uri_encode with ast_uri_http): every byte but letters, digits and
    ``-_.!~*'()`` becomes ``%XX``."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if byte < 128 and (ch.isalnum() or ch in _MARK):
            out.append(ch)
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def uri_decode(text: str, *, legacy: bool = False) -> str:
    """ast_uri_decode: ``%`` with at least two characters after it, the first a hex digit
    (``sscanf("%2x")``), becomes that byte and the two characters are consumed; else it stays."""
    raw = text.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25 and len(raw) - i > 2 and raw[i + 1] in _HEX:
            digits = raw[i + 1 : i + 3] if raw[i + 2] in _HEX else raw[i + 1 : i + 2]
            out.append(int(digits, 16))
            i += 3
            continue
        out.append(0x20 if legacy and b == 0x2B else b)
        i += 1
    return out.decode("utf-8", errors="replace")


_HEX = frozenset(b"0123456789abcdefABCDEF")


def write_option(options: dict[str, str], name: str, value: str) -> None:
    """``Set(CURLOPT(name)=value)``: stored as func_curl stores it."""
    key = name.strip().lower()
    if key not in KNOWN:
        raise CurlOptionError(f"Unrecognized option: {name}")
    if key in _MS_OPTIONS:
        try:
            seconds = float(value.strip() or 0)
        except ValueError:
            seconds = 0.0  # atof() of garbage
        options[key] = str(int(seconds * 1000.0))
    elif key == "hashcompat":
        v = value.strip().lower()
        options[key] = (
            "legacy" if v == "legacy" else ("yes" if v in ("yes", "true", "y", "t", "1", "on") else "no")
        )
    else:
        options[key] = value


def read_option(options: Mapping[str, str], name: str) -> str | None:
    """``${CURLOPT(name)}``: None when neither the channel nor the global list has it."""
    key = name.strip().lower()
    if key not in KNOWN:
        raise CurlOptionError(f"Unrecognized option: '{name}'")
    value = options.get(key)
    if value is None:
        return None
    if key in _MS_OPTIONS:
        ms = int(value)
        return str(ms // 1000) if ms % 1000 == 0 else f"{ms / 1000.0:.3f}"
    return value


@dataclass(frozen=True, slots=True)
class CurlResult:
    value: str  # what ${CURL(...)} expands to
    fields: str | None  # hashcompat: the new ~ODBCFIELDS~ (None: left as it was)
    warning: str | None  # what Asterisk logs (at ``level``), with the URL
    elapsed: float
    level: str = "WARNING"


def _escape_commas(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,")


def hashcompat(body: str, legacy: bool) -> tuple[str, str]:
    """func_curl's hashcompat: (values, field names), each comma-joined and escaped."""
    names, values = [], []
    for piece in body.split("&"):
        name, eq, value = piece.partition("=")
        names.append(_escape_commas(uri_decode(name, legacy=legacy)))
        values.append(_escape_commas(uri_decode(value, legacy=legacy) if eq else ""))
    return ",".join(values), ",".join(names)


def _trim_blanks(text: str) -> str:
    end = len(text)
    while end and ord(text[end - 1]) < 33:
        end -= 1
    return text[:end]


# An HTTP server living in the simulator's own process: (host:port, request target) -> the
# response body, or None when nothing listens there (Simulator.http).
Transport = Callable[[str, str], bytes | None]


async def fetch(
    url: str, post: str | None, options: Mapping[str, str], transport: Transport | None = None
) -> CurlResult:
    """One ``CURL()`` call; with ``transport``, a GET is answered in-process instead of over a
    socket (no time passes, as on a manual clock)."""
    started = time.monotonic()

    def done(body: bytes, warning: str | None) -> CurlResult:
        elapsed = time.monotonic() - started
        text = _trim_blanks(body.decode("utf-8", errors="replace"))
        if not text:
            return CurlResult("", None, warning, elapsed)
        mode = options.get("hashcompat", "no")
        if mode in ("yes", "legacy"):
            values, fields = hashcompat(text, mode == "legacy")
            return CurlResult(values, fields, warning, elapsed)
        return CurlResult(text, None, warning, elapsed)

    if "\r" in url or "\n" in url:
        why = f"URL '{url}' is vulnerable to HTTP injection attacks. Aborting CURL() call."
        return CurlResult("", None, why, 0.0, "ERROR")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return done(b"", f"URL using bad/illegal format or missing URL ('{url}')")
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return done(b"", f"Unsupported protocol or no host ('{url}')")
    host = parts.hostname
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return done(b"", f"Could not resolve host: {host} ('{url}')")
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if transport is not None and post is None:
        answer = transport(f"{host}:{port}", target)
        if answer is None:
            return done(
                b"",
                f"Failed to connect to {host} port {port} after 0 ms: Could not connect to server ('{url}')",
            )
        return done(answer, None)
    total_ms = int(options.get("httptimeout", DEFAULT_TIMEOUT_MS))
    connect_ms = int(options.get("conntimeout", DEFAULT_CONNECT_MS))
    total = total_ms / 1000.0 if total_ms > 0 else DEFAULT_TIMEOUT_MS / 1000.0
    connect = min(total, connect_ms / 1000.0 if connect_ms > 0 else DEFAULT_CONNECT_MS / 1000.0)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect)
    except TimeoutError:
        ms = int((time.monotonic() - started) * 1000)
        what = "Operation" if connect >= total else "Connection"
        return done(b"", f"{what} timed out after {ms} milliseconds with 0 bytes received ('{url}')")
    except OSError as err:
        ms = int((time.monotonic() - started) * 1000)
        reason = "Could not connect to server" if isinstance(err, ConnectionRefusedError) else str(err)
        return done(b"", f"Failed to connect to {host} port {port} after {ms} ms: {reason} ('{url}')")
    method = "POST" if post is not None else "GET"
    head = [
        f"{method} {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"User-Agent: {options.get('useragent', USER_AGENT)}",
    ]
    head.append("Accept: */*")
    payload = b""
    if post is not None:
        payload = post.encode()
        head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(payload)}"]
    body = _Body()
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        left = total - (time.monotonic() - started)
        await asyncio.wait_for(body.read(reader), max(0.0, left))
        warning = None
    except TimeoutError:
        ms = int((time.monotonic() - started) * 1000)
        warning = (
            f"Operation timed out after {ms} milliseconds with {len(body.data)} bytes received ('{url}')"
        )
    except (OSError, ValueError) as err:
        warning = f"Recv failure: {err} ('{url}')"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return done(bytes(body.data), warning)


class _Body:
    """An HTTP/1.x response body as libcurl delivers it: Content-Length, chunked, or to EOF. What
    arrived is kept in ``data`` however the read ends."""

    def __init__(self) -> None:
        self.data = bytearray()

    async def read(self, reader: asyncio.StreamReader) -> None:
        headers: dict[str, str] = {}
        status = await reader.readline()
        if not status:
            raise ValueError("Empty reply from server")
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    return
                while size:
                    chunk = await reader.read(size)
                    if not chunk:
                        raise ValueError("transfer closed with outstanding read data remaining")
                    self.data += chunk
                    size -= len(chunk)
                await reader.readline()
        length = headers.get("content-length")
        if length is not None:
            want = int(length)
            while len(self.data) < want:
                chunk = await reader.read(want - len(self.data))
                if not chunk:
                    raise ValueError("transfer closed with outstanding read data remaining")
                self.data += chunk
            return
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            self.data += chunk
