"""The lookup's wire format: what Asterisk's ``CURL()`` sends, and what acd answers.

Asterisk asks with an HTTP GET whose values the dialplan passed through ``URIENCODE()``::

    GET /route?queue=support&caller=%2B15551100&account=&uniqueid=1700000000.12 HTTP/1.1

and reads the answer with ``CURLOPT(hashcompat)=yes`` into ``HASH(acd,<key>)``: func_curl splits
the body on ``&`` and ``=`` and URL-decodes each name and value (``%XX`` only; ``+`` stays a
plus). So every value acd returns is percent-encoded here, and every answer ends with ``end=1``:
func_curl also parses a body it received only in part (a timeout mid-answer), and the dialplan
treats an answer without ``end=1`` as no answer at all. Values then pass through Asterisk's
argument splitting (``HASH(acd)=`` assigns them as a comma list, which honours quotes, brackets
and parentheses), so :func:`clean` drops those characters from free text.

Any request acd cannot use (unknown path, bad encoding, oversized, missing queue) gets a
complete answer that sends the caller to the shared queue (:func:`shared_queue`), never an error
page: func_curl ignores the HTTP status and would parse an error page's body as the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote

__all__ = [
    "END",
    "FIELDS",
    "MAX_REQUEST_BYTES",
    "MAX_VALUE_CHARS",
    "PING_BODY",
    "LookupRequest",
    "clean",
    "encode",
    "http_response",
    "parse_request",
    "shared_queue",
]

MAX_REQUEST_BYTES = 8192  # request line and headers; a longer request is refused (shared queue)
MAX_VALUE_CHARS = 256  # one query value, decoded
END = ("end", "1")
PING_BODY = "acd=ok&end=1"

# Answer keys (HASH(acd,<key>)) and the channel variables the generated dialplan copies them to.
FIELDS: tuple[tuple[str, str], ...] = (
    ("route", "ACD_ROUTE"),  # agent | queue
    ("reason", "ACD_REASON"),
    ("id", "ACD_DECISION"),  # the decision id the dialplan confirms with UserEvent(AcdRouted)
    ("prev", "ACD_PREV_AGENT"),
    ("prev_name", "ACD_PREV_AGENT_NAME"),
    ("callback_of", "ACD_CALLBACK_OF"),
    ("cutoff_at", "ACD_CUTOFF_AT"),
    ("pop", "ACD_SCREENPOP_URL"),
    ("call_url", "ACD_CALL_URL"),
    ("callback_url", "ACD_CALLBACK_URL"),
    ("agent_queue", "ACD_AGENT_QUEUE"),
    ("wait", "ACD_WAIT"),
    ("opts", "ACD_QUEUE_OPTS"),
    ("prio", "ACD_PRIO"),
)
_KEYS = frozenset(k for k, _ in FIELDS)
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"()\[\]]')


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """One parsed request. ``problem`` says why it cannot be used (it is then answered 'queue')."""

    path: str
    queue: str = ""
    caller: str = ""
    account: str = ""
    uniqueid: str = ""
    problem: str | None = None


def parse_request(data: bytes) -> LookupRequest:
    """The request line of an HTTP request (headers are read and ignored)."""
    head = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        line = head.decode("ascii")
    except UnicodeDecodeError:
        return LookupRequest("", problem="request line not ASCII")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return LookupRequest("", problem="not an HTTP request line")
    method, target, _version = parts
    path, _, query = target.partition("?")
    if method not in ("GET", "HEAD", "POST"):
        return LookupRequest(path, problem=f"method {method[:10]}")
    values: dict[str, str] = {}
    for item in query.split("&") if query else ():
        name, _, raw = item.partition("=")
        value = unquote(raw, errors="replace")
        if len(value) > MAX_VALUE_CHARS:
            return LookupRequest(path, problem=f"value of {name[:20]!r} too long")
        values[unquote(name, errors="replace")] = value
    request = LookupRequest(
        path,
        queue=values.get("queue", "").strip(),
        caller=values.get("caller", "").strip(),
        account=values.get("account", "").strip(),
        uniqueid=values.get("uniqueid", "").strip(),
    )
    if path == "/route" and not request.queue:
        return LookupRequest(path, problem="no queue")
    if any(_UNSAFE.search(v) for v in (request.queue, request.uniqueid)):
        return LookupRequest(path, problem="control characters in queue or uniqueid")
    return request


def clean(value: str) -> str:
    """A value that survives Asterisk's argument splitting unchanged: no control characters,
    quotes, brackets or parentheses (they would swallow the commas between HASH values)."""
    return _UNSAFE.sub("", value)


def encode(pairs: Iterable[tuple[str, str]]) -> str:
    """``key=value&...&end=1`` with every value percent-encoded (``%20`` for a space, never ``+``)."""
    out = []
    for key, value in pairs:
        if key not in _KEYS:
            raise ValueError(f"unknown answer key {key!r}")
        out.append(f"{key}={quote(clean(value), safe='')}")
    out.append("=".join(END))
    return "&".join(out)


def shared_queue(reason: str) -> str:
    """A complete answer that sends the caller to the shared queue and records nothing."""
    return encode((("route", "queue"), ("reason", reason)))


def http_response(body: str, *, head_only: bool = False) -> bytes:
    """Always 200: func_curl ignores the status, so the body is the answer in every case."""
    payload = body.encode()
    header = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return header if head_only else header + payload
