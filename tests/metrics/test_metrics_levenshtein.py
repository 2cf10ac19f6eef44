"""The rapidfuzz-backed distance equals a plain unit-cost dynamic programme over code points."""

from __future__ import annotations

import random

import pytest
from metric_strategies import random_edge_text

from monkeyeval.metrics.levenshtein import levenshtein, pairwise_levenshtein


def reference_levenshtein(a: str, b: str) -> int:
    """Textbook Wagner-Fischer DP, unit costs, over Python code points."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param("", "", 0, id="both-empty"),
        pytest.param("kitten", "sitting", 3, id="classic"),
        pytest.param("\U0001d518", "x", 1, id="astral-char-is-one-code-point"),
        pytest.param("e\u0301", "é", 2, id="combining-accent-is-two-code-points"),
        pytest.param("ab", "ba", 2, id="no-transpositions"),
    ],
)
def test_known_distances(a: str, b: str, expected: int) -> None:
    assert levenshtein(a, b) == expected == reference_levenshtein(a, b)


def test_equals_reference_dp_on_random_unicode() -> None:
    rng = random.Random(7)
    left = [random_edge_text(rng, 14) for _ in range(3000)]
    right = [random_edge_text(rng, 14) for _ in range(3000)]
    expected = [reference_levenshtein(a, b) for a, b in zip(left, right, strict=True)]
    assert [levenshtein(a, b) for a, b in zip(left, right, strict=True)] == expected
    assert pairwise_levenshtein(left, right).tolist() == expected


def test_pairwise_rejects_misaligned_inputs() -> None:
    with pytest.raises(ValueError, match="2 left strings but 1 right"):
        pairwise_levenshtein(["a", "b"], ["a"])
