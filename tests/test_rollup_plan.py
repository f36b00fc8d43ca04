"""How a summary splits its time line between rollups and rows (acd/reads/rollup_plan.py), checked on
point masses: whatever the edges and whichever buckets are current, every row counts once, in its
own piece, and rows outside the time line count nowhere."""

from __future__ import annotations

import bisect
import random

from acd.reads.rollup_plan import Plan, Timeline

DAY, HOUR, WEEK = 86400.0, 3600.0, 7 * 86400.0
T = 2960 * WEEK  # a Thursday midnight (UTC): weeks count from the epoch, a Thursday


def credited(plan: Plan, timeline: Timeline, tiers: dict[str, float], times: list[float]) -> list[int]:
    """Rows per piece as the plan reads them: a rollup holds the rows of its bucket."""
    pieces = len(timeline.edges) - 1
    out = [0] * pieces

    def piece_of(t: float) -> int:
        return min(max(bisect.bisect_right(timeline.edges, t) - 1, 0), pieces - 1)

    for level, ranges in plan.rolled.items():
        width = tiers[level]
        for a, b in ranges:
            start = a
            while start < b:
                n = sum(1 for t in times if start <= t < start + width)
                target = (
                    plan.moved.get(start, piece_of(start))
                    if width == min(tiers.values())
                    else piece_of(start)
                )
                out[target] += n
                start += width
    for a, b in plan.raw:
        for t in times:
            if a <= t < b:
                out[piece_of(t)] += 1
    for a, b, piece in plan.minus:
        out[piece] -= sum(1 for t in times if a <= t < b)
    return out


def truth(timeline: Timeline, times: list[float]) -> list[int]:
    edges = timeline.edges
    out = [0] * (len(edges) - 1)
    for t in times:
        if edges[0] <= t < edges[-1]:
            out[bisect.bisect_right(edges, t) - 1] += 1
    return out


def test_whole_weeks_from_the_coarse_level_and_the_rest_from_days_and_rows() -> None:
    timeline = Timeline([T - 14 * HOUR, T + 15 * DAY + 6 * HOUR])
    days = {T - DAY + i * DAY for i in range(20)}
    plan = timeline.plan([("aweek", WEEK, {T, T + WEEK}), ("agent", DAY, days)])
    assert plan.rolled["aweek"] == [(T, T + 2 * WEEK)]
    assert plan.rolled["agent"] == [(T - DAY, T), (T + 2 * WEEK, T + 15 * DAY)]
    # The first day, cut at 10:00: its rollup minus its first 10 hours; the last, cut at 06:00,
    # is open (not current): its rows.
    assert plan.moved == {T - DAY: 0} and plan.minus == [(T - DAY, T - 14 * HOUR, 0)]
    assert plan.raw == [(T + 15 * DAY, T + 15 * DAY + 6 * HOUR)]


def test_a_stale_week_is_read_from_its_days() -> None:
    timeline = Timeline([T, T + WEEK])
    plan = timeline.plan([("aweek", WEEK, set()), ("agent", DAY, {T + i * DAY for i in range(7)})])
    assert plan.rolled == {"aweek": [], "agent": [(T, T + WEEK)]} and not plan.raw and not plan.minus


def test_a_cut_bucket_is_read_from_the_rows_when_that_is_less() -> None:
    # The period starts at 20:00: its 4 hours of that day are fewer rows than 24 - 20.
    timeline = Timeline([T + 20 * HOUR, T + 2 * DAY])
    plan = timeline.plan([("aweek", WEEK, set()), ("agent", DAY, {T, T + DAY})])
    assert plan.raw == [(T + 20 * HOUR, T + DAY)] and not plan.minus and not plan.moved
    # A stale day cut by an edge: its rows, both sides.
    timeline = Timeline([T - DAY, T + 8 * HOUR, T + 2 * DAY])
    plan = timeline.plan([("aweek", WEEK, set()), ("agent", DAY, {T - DAY, T + DAY})])
    assert plan.raw == [(T, T + DAY)] and not plan.minus


def test_every_row_counts_once_in_its_own_piece() -> None:
    rng = random.Random(7)
    for _ in range(300):
        start = T + rng.randrange(-20, 20) * DAY
        edges = sorted({start + rng.uniform(0, 40 * DAY) for _ in range(rng.randint(2, 8))})
        if len(edges) < 2:
            continue
        timeline = Timeline(edges)
        name, width, coarse_name, coarse_width = rng.choice(
            [("queue", HOUR, "qday", DAY), ("agent", DAY, "aweek", WEEK)]
        )
        low, high = edges[0] - coarse_width, edges[-1] + coarse_width
        fine_buckets = [low // width * width + i * width for i in range(int((high - low) // width) + 2)]
        coarse_buckets = [low // coarse_width * coarse_width + i * coarse_width for i in range(8)]
        share = rng.random()
        current = {b for b in fine_buckets if rng.random() < share}
        coarse_current = {b for b in coarse_buckets if rng.random() < share}
        tiers = [(coarse_name, coarse_width, coarse_current), (name, width, current)]
        plan = timeline.plan(tiers)
        times = [rng.uniform(low, high) for _ in range(400)]
        times += [rng.choice(edges) for _ in range(20)]  # rows right on an edge
        assert credited(plan, timeline, {coarse_name: coarse_width, name: width}, times) == truth(
            timeline, times
        ), (edges, plan)
        for a, b, _ in plan.minus:
            assert any(bucket <= a and b <= bucket + width for bucket in plan.moved)
        assert all(start in current for start in plan.moved)
