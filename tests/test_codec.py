"""The AMI wire codec, checked the way h11 checks its readers: whole, byte by byte, in random
chunks, with trailing data, and against malformed input (which must be counted, never fatal)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.ami.codec import Framer, HeaderError, encode_message, parse_pairs

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
CAPTURES = sorted(FIXTURES.rglob("*.ami.log"))


def feed_all(data: bytes, sizes: list[int] | None = None) -> tuple[list[dict[str, str]], Framer]:
    framer = Framer()
    out: list[dict[str, str]] = []
    if sizes is None:
        out.extend(framer.feed(data))
        return out, framer
    pos = 0
    i = 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        out.extend(framer.feed(data[pos : pos + n]))
        pos += n
        i += 1
    return out, framer


def test_every_capture_is_here() -> None:
    assert len(CAPTURES) >= 21


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_capture_whole_bytewise_and_chunked_agree(path: Path) -> None:
    data = path.read_bytes()
    whole, framer = feed_all(data)
    assert framer.banner == "Asterisk Call Manager/11.0.0"
    assert framer.buffered == 0
    assert framer.anomalies == []
    # The message count is the capture's own: every block between blank lines.
    assert len(whole) == data.count(b"\r\n\r\n")
    assert feed_all(data, [1])[0] == whole
    rng = random.Random(path.name)
    assert feed_all(data, [rng.randint(1, 700) for _ in range(64)])[0] == whole


@pytest.mark.parametrize("path", CAPTURES[:4], ids=lambda p: p.name)
def test_trailing_partial_message_is_kept_for_the_next_read(path: Path) -> None:
    data = path.read_bytes()
    whole, _ = feed_all(data)
    framer = Framer()
    got = framer.feed(data + b"Event: Partial\r\nKey: va")
    assert got == whole
    assert framer.buffered > 0
    assert framer.feed(b"lue\r\n\r\n") == [{"Event": "Partial", "Key": "value"}]


def test_split_utf8_character_survives() -> None:
    msg = "Event: UserEvent\r\nNotes: José Müller ☎\r\n\r\n".encode()
    cut = msg.index("é".encode()) + 1  # in the middle of the two-byte é
    framer = Framer(expect_banner=False)
    assert framer.feed(msg[:cut]) == []
    assert framer.feed(msg[cut:]) == [{"Event": "UserEvent", "Notes": "José Müller ☎"}]


def test_repeated_headers_are_joined_not_lost() -> None:
    framer = Framer(expect_banner=False)
    got = framer.feed(b"Response: Success\r\nOutput: line one\r\nOutput: line two\r\n\r\n")
    assert got == [{"Response": "Success", "Output": "line one\nline two"}]


def test_lf_only_framing_is_parsed_and_counted() -> None:
    framer = Framer(expect_banner=False)
    got = framer.feed(b"Event: A\nX: 1\n\nEvent: B\n\n")
    assert got == [{"Event": "A", "X": "1"}, {"Event": "B"}]
    assert [a.kind for a in framer.pop_anomalies()] == ["lf_framing", "lf_framing"]


def test_garbage_lines_are_counted_and_the_message_kept() -> None:
    framer = Framer(expect_banner=False)
    got = framer.feed(b"Event: A\r\nthis is not a header\r\nKey: v\r\n\r\n")
    assert got == [{"Event": "A", "Key": "v"}]
    kinds = [a.kind for a in framer.pop_anomalies()]
    assert kinds == ["bad_line"]


def test_oversized_message_is_dropped_and_stream_resynchronises() -> None:
    framer = Framer(expect_banner=False, max_message_bytes=4096)
    assert framer.feed(b"Event: Huge\r\nData: " + b"x" * 10000) == []
    assert [a.kind for a in framer.pop_anomalies()] == ["oversized"]
    assert framer.buffered == 0
    assert framer.feed(b"\r\n\r\nEvent: Next\r\n\r\n") == [{"Event": "Next"}]


def test_empty_value_header() -> None:
    framer = Framer(expect_banner=False)
    assert framer.feed(b"Event: X\r\nPausedReason:\r\nAccountCode: \r\n\r\n") == [
        {"Event": "X", "PausedReason": "", "AccountCode": ""}
    ]


def test_missing_banner_is_tolerated() -> None:
    framer = Framer()
    assert framer.feed(b"Event: X\r\nA: b\r\n\r\n") == [{"Event": "X", "A": "b"}]
    assert framer.banner is None


def test_encode_round_trip_and_order() -> None:
    data = encode_message([("Action", "Originate"), ("Variable", "A=1"), ("Variable", "B=2")])
    assert data == b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"
    assert parse_pairs(data.decode()) == [("Action", "Originate"), ("Variable", "A=1"), ("Variable", "B=2")]


@pytest.mark.parametrize("bad", ["a\r\nEvent: Injected", "x\ny"])
def test_encode_refuses_header_injection(bad: str) -> None:
    with pytest.raises(HeaderError):
        encode_message({"Action": "UserEvent", "Notes": bad})


_key = st.text(
    st.characters(min_codepoint=65, max_codepoint=122, exclude_characters=":"), min_size=1, max_size=12
)
_value = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40).filter(
    lambda v: not v.startswith(" ") and "\u2028" not in v and "\u2029" not in v and "\x85" not in v
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(_key, _value, min_size=1, max_size=6), min_size=1, max_size=8), st.data())
def test_random_messages_survive_any_chunking(messages: list[dict[str, str]], data: st.DataObject) -> None:
    wire = b"".join(encode_message(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    framer = Framer(expect_banner=False)
    got: list[dict[str, str]] = []
    last = 0
    for cut in [*cuts, len(wire)]:
        got.extend(framer.feed(wire[last:cut]))
        last = cut
    assert got == messages


@settings(max_examples=100, deadline=None)
@given(st.lists(st.dictionaries(_key, _value, min_size=1, max_size=6), min_size=1, max_size=8), st.data())
def test_views_of_a_reused_read_buffer_parse_as_bytes_do(
    messages: list[dict[str, str]], data: st.DataObject
) -> None:
    """The reader hands the framer views of one buffer it reads every chunk into: what the framer
    keeps of a chunk must survive the buffer being overwritten by the next read."""
    wire = b"".join(encode_message(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    framer = Framer(expect_banner=False)
    buffer = bytearray(len(wire) + 1)
    got: list[dict[str, str]] = []
    last = 0
    for cut in [*cuts, len(wire)]:
        size = cut - last
        buffer[:size] = wire[last:cut]
        got.extend(framer.feed(memoryview(buffer)[:size]))
        buffer[:] = b"\0" * len(buffer)  # the next read lands here
        last = cut
    assert got == messages


def test_oversized_message_arriving_whole_is_dropped_too() -> None:
    framer = Framer(expect_banner=False, max_message_bytes=4096)
    big = b"Event: Huge\r\nData: " + b"x" * 5000 + b"\r\n\r\n"
    assert framer.feed(big + b"Event: Next\r\n\r\n") == [{"Event": "Next"}]
    assert [a.kind for a in framer.pop_anomalies()] == ["oversized"]


def test_keep_skips_unread_events_but_counts_them() -> None:
    data = (FIXTURES / "answered_call.ami.log").read_bytes()
    everything, _ = feed_all(data)
    framer = Framer(keep=frozenset({"AgentConnect", "Hangup"}))
    kept = framer.feed(data)
    names = [m.get("Event") for m in kept]
    # Responses, the kept names and list items answering our actions (they carry ActionID) stay.
    assert "AgentConnect" in names and "Hangup" in names and "QueueMember" in names
    assert "VarSet" not in names and "Newexten" not in names
    assert [m for m in everything if m.get("Event") in ("AgentConnect", "Hangup")] == [
        m for m in kept if m.get("Event") in ("AgentConnect", "Hangup")
    ]
    assert framer.skipped["VarSet"] == 78
    assert len(kept) + sum(framer.skipped.values()) == len(everything)
