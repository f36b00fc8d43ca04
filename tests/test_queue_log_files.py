"""Reading queue_log from disk: rotated copies found by their first line whatever their names
(``.1``, ``.2.gz``, dated), the lines since a moment across a rotation, a big file entered by
bisection, a line copied twice by ``copytruncate`` read once, a missing file said so."""

from __future__ import annotations

import gzip
from pathlib import Path

from acd.core.queuelog import read_facts
from acd.queuelog.files import load_facts, read_since, rotations
from acd.sim.queue_log import QueueLogFile


def entry(at: int, callid: str) -> tuple[int, str, str, str, str, str, str, int]:
    return (at, callid, "support", "NONE", "ENTERQUEUE", "", "5551234", 1)


def test_rotated_copies_in_time_order_whatever_their_names(tmp_path: Path) -> None:
    log = QueueLogFile(tmp_path / "queue_log")
    for day in range(3):
        for i in range(5):
            log.write(*entry(1_000 + day * 100 + i, f"{day}.{i}"))
        log.rotate()
    log.write(*entry(1_400, "now.1"))
    log.close()
    with gzip.open(tmp_path / "queue_log-20260101.gz", "wt") as fh:  # logrotate's dateext, older still
        fh.write("900|old.1|support|NONE|ENTERQUEUE||5551234|1\n")
    names = [p.name for p in rotations(tmp_path / "queue_log")]
    assert names == ["queue_log-20260101.gz", "queue_log.3.gz", "queue_log.2.gz", "queue_log.1", "queue_log"]


def test_the_lines_since_a_moment_span_a_rotation(tmp_path: Path) -> None:
    log = QueueLogFile(tmp_path / "queue_log")
    for i in range(10):
        log.write(*entry(1_000 + i, f"a.{i}"))
    log.rotate()
    log.rotate()  # now queue_log.2.gz
    for i in range(10):
        log.write(*entry(2_000 + i, f"b.{i}"))
    log.close()
    read = read_since(tmp_path / "queue_log", 1_005)
    ids = [line.split("|")[1] for line in read.lines]
    assert ids == [f"a.{i}" for i in range(5, 10)] + [f"b.{i}" for i in range(10)]
    assert read.covers_start and [p.name for p in read.files] == ["queue_log.2.gz", "queue_log"]
    assert len(read_since(tmp_path / "queue_log", 2_005).files) == 1  # the current file covers it


def test_a_big_file_is_entered_by_bisection_and_read_to_the_end(tmp_path: Path) -> None:
    log = QueueLogFile(tmp_path / "queue_log")
    for i in range(50_000):
        log.write(*entry(1_000_000 + i // 10, f"c.{i}"))
    log.close()
    read = read_since(tmp_path / "queue_log", 1_004_990)
    assert [line.split("|")[1] for line in read.lines] == [f"c.{i}" for i in range(49_900, 50_000)]


def test_a_line_copytruncate_left_in_both_copies_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "queue_log.1").write_text(
        "10|x.1|support|NONE|ENTERQUEUE||555|1\n11|x.1|support|Alice|CONNECT|1|x.2|1\n"
    )
    (tmp_path / "queue_log").write_text(
        "11|x.1|support|Alice|CONNECT|1|x.2|1\n20|x.1|support|Alice|COMPLETECALLER|1|9|1\n"
    )
    facts = read_facts(read_since(tmp_path / "queue_log", None).lines)
    (e,) = facts.entries
    assert (e.number, e.connected_at, e.end, e.talk) == (1, 11, "COMPLETECALLER", 9)


def test_a_missing_file_is_no_facts(tmp_path: Path) -> None:
    assert load_facts(tmp_path / "nope", 0) is None
    (tmp_path / "queue_log").write_text("5|y.1|support|NONE|ENTERQUEUE||555|1\nnot a line\n")
    facts = load_facts(tmp_path / "queue_log", 0)
    assert facts is not None and len(facts.entries) == 1 and facts.unreadable == 1
