"""The one number format: percentages with one decimal for mean/corpus metrics, counts for sums."""

from __future__ import annotations

import pytest

from monkeyeval.core.numbers import format_delta, format_interval, format_score, format_score_ci


@pytest.mark.parametrize(
    ("value", "aggregation", "expected"),
    [
        (0.66667, "mean", "66.7"),
        (0.0, "mean", "0.0"),
        (1.0, "mean", "100.0"),
        (0.861, "corpus", "86.1"),
        (514.0, "sum", "514"),
        (514.5, "sum", "514.5"),
        (None, "mean", "—"),
    ],
)
def test_format_score(value: float | None, aggregation: str, expected: str) -> None:
    assert format_score(value, aggregation) == expected


@pytest.mark.parametrize(
    ("delta", "aggregation", "expected"),
    [(0.012, "mean", "+1.2"), (-0.03, "mean", "-3.0"), (0.0, "mean", "+0.0"), (-3.0, "sum", "-3"),
     (2.5, "sum", "+2.5"), (None, "sum", "—")],
)  # fmt: skip
def test_format_delta(delta: float | None, aggregation: str, expected: str) -> None:
    assert format_delta(delta, aggregation) == expected


def test_score_with_interval() -> None:
    assert format_score_ci(0.66667, (0.53333, 0.78333), "mean") == "66.7 [53.3, 78.3]"
    assert format_score_ci(514, (490, 550), "sum") == "514 [490, 550]"
    assert format_score_ci(0.5, None, "mean") == "50.0"
    assert format_score_ci(None, (0.1, 0.2), "mean") == "—"
    assert format_interval(None, "mean") == ""
