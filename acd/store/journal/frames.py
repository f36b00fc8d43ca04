"""The journal's on-disk format: one record is one frame, ``<length u32><crc32 u32><JSON>``.

Why frames and not lines: a crash can leave any prefix of a write on disk, and a reader must tell
a whole record from a torn one without trusting what follows the tear. The length says where a
frame ends and the checksum whether all of it arrived; the first frame that fails either (a torn
tail after a crash, or corruption) ends what is read of its segment. The JSON is the stored-effect
codec's line (``acd.store.codec``), so effect types added later ride the journal unchanged. Its
sequence number is read from the line's start without decoding the effect: recovery and ordered
reads do not pay for decoding records they only skip.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

from acd.store.codec import StoredEffect, dumps, loads

__all__ = ["HEADER", "MAX_FRAME", "Item", "encode", "read_frames", "scan", "seq_of"]

HEADER = struct.Struct("<II")
MAX_FRAME = 64 << 20  # a frame longer than this is corruption, not a record

Item = tuple[int, StoredEffect]


def encode(seq: int, effect: StoredEffect) -> bytes:
    payload = dumps(seq, effect).encode()
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def seq_of(payload: bytes) -> int:
    """The sequence number of a frame without decoding its effect (the codec's line starts with it)."""
    if payload.startswith(b'{"seq":'):
        end = payload.find(b",", 7)
        if end > 7:
            return int(payload[7:end])
    return int(json.loads(payload)["seq"])


def read_frames(
    path: Path, stop_after: int | None = None, start: int = 0
) -> tuple[list[tuple[int, bytes]], int, bool]:
    """Frames of one segment from byte ``start``, undecoded: ((seq, payload) pairs, the byte after
    the last valid one, whether the segment ended cleanly there)."""
    frames: list[tuple[int, bytes]] = []
    with path.open("rb") as fh:
        if start:
            fh.seek(start)
        data = fh.read()
    pos = 0
    end = len(data)
    while pos + HEADER.size <= end:
        length, crc = HEADER.unpack_from(data, pos)
        begin = pos + HEADER.size
        if length > MAX_FRAME or begin + length > end:
            return frames, start + pos, False
        payload = data[begin : begin + length]
        if zlib.crc32(payload) != crc:
            return frames, start + pos, False
        try:
            seq = seq_of(payload)
        except (ValueError, KeyError, TypeError):
            return frames, start + pos, False
        frames.append((seq, payload))
        pos = begin + length
        if stop_after is not None and seq >= stop_after:
            return frames, start + pos, True
    return frames, start + pos, pos == end


def scan(path: Path, stop_after: int | None = None) -> tuple[list[Item], int, bool]:
    """Records of one segment: (records, bytes of valid frames, whether it ended cleanly)."""
    frames, pos, clean = read_frames(path, stop_after)
    return [loads(payload.decode()) for _, payload in frames], pos, clean
