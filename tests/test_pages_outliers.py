"""Tukey's fences on a team's figures (the /agents page's highlights)."""

from __future__ import annotations

import pytest

from acd.web.outliers import fences, outside


def test_fences_match_the_textbook_quartiles() -> None:
    # 1..8: Q1 = 2.75, Q3 = 6.25 (linear interpolation), IQR 3.5 -> fences -2.5 and 11.5
    assert fences([float(v) for v in range(1, 9)]) == pytest.approx((-2.5, 11.5))


def test_a_rep_far_above_the_team_is_marked_and_no_one_else() -> None:
    rates = {"alice": 0.02, "bob": 0.03, "chen": 0.025, "dana": 0.03, "eve": 0.02, "fred": 0.25}
    assert outside(rates) == {"fred": "high"}


def test_low_side_and_missing_values() -> None:
    notes = {"alice": 0.95, "bob": 0.97, "chen": 0.96, "dana": 0.94, "eve": 0.2, "new": None}
    assert outside(notes) == {"eve": "low"}


def test_a_small_or_uniform_team_has_no_outliers() -> None:
    assert outside({"a": 0.0, "b": 0.9, "c": 0.1}) == {}
    assert outside({name: 0.5 for name in "abcdef"}) == {}
