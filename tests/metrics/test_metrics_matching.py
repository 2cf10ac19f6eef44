"""Exact match, containment, GQA clean-up, ScienceQA letters and OCRBench hits, rule by rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_strategies import edge_text

from monkeyeval.metrics.builtin.matching import (
    contains_match_monkey,
    contains_match_textmonkey,
    exact_match_qwen,
    gqa_contains_monkey,
    gqa_exact_match_qwen,
    gqa_post_process,
    scienceqa_choice,
    scienceqa_mc_internvl,
    strip_textmonkey_blocks,
)
from monkeyeval.metrics.builtin.ocrbench import ocrbench, ocrbench_hme100k


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        pytest.param(" Paris \n", ["paris"], 1.0, id="strip-and-lower-both"),
        pytest.param("paris", [" PARIS "], 1.0, id="gold-stripped-too"),
        pytest.param("the paris", ["paris"], 0.0, id="no-substring"),
        pytest.param("new  york", ["new york"], 0.0, id="internal-whitespace-kept"),
        pytest.param("b", ["a", "B"], 1.0, id="any-gold"),
    ],
)
def test_exact_match_qwen(prediction: str, golds: list[str], expected: float) -> None:
    assert exact_match_qwen(prediction, golds) == expected


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        pytest.param("3.5", ["3.5"], 0.0, id="golden-gold-with-period-never-matches"),
        pytest.param("The answer is B.", ["b"], 1.0, id="golden-substring-after-lower"),
        pytest.param("25%", ["5%"], 1.0, id="golden-over-scoring-substring"),
        pytest.param("", [""], 1.0, id="golden-empty-gold-always-matches"),
        pytest.param("U.S. army", ["us army"], 1.0, id="periods-removed-from-prediction"),
        pytest.param("cat", [" CAT "], 1.0, id="gold-stripped-and-lowered"),
        pytest.param("ca t", ["cat"], 0.0, id="no-whitespace-normalisation"),
    ],
)
def test_contains_match_monkey(prediction: str, golds: list[str], expected: float) -> None:
    assert contains_match_monkey(prediction, golds) == expected


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        pytest.param("3.5", ["3.5"], 1.0, id="periods-not-removed"),
        pytest.param("Total <point>(1,2)</point>: 25%", ["5%"], 1.0, id="substring-after-point-removal"),
        pytest.param("<point>(1,2)</point> x", ["1,2"], 0.0, id="point-block-removed"),
        pytest.param("<box>(1,2),(3,4)</box> x", ["1,2"], 0.0, id="box-block-removed"),
        pytest.param("(1,2),(3,4) x", ["1,2"], 1.0, id="bare-coordinates-stay"),
        pytest.param("<point>a\nb</point> tail", ["a"], 1.0, id="multiline-block-not-removed"),
    ],
)
def test_contains_match_textmonkey(prediction: str, golds: list[str], expected: float) -> None:
    assert contains_match_textmonkey(prediction, golds) == expected


def test_textmonkey_block_removal_order_and_nesting() -> None:
    assert strip_textmonkey_blocks("a<point>1</point>b<point>2</point>c") == "abc"
    assert strip_textmonkey_blocks("<point><box>1</box></point>x") == "x"
    # Blocks found first, then each found text removed: the non-greedy match stops at the first close tag.
    assert strip_textmonkey_blocks("<point>a<point>b</point>c</point>") == "c</point>"


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        pytest.param("The bag is black.", "black", id="golden-is"),
        pytest.param("Yes, it is.", "yes", id="golden-comma"),
        pytest.param("this table", "table", id="golden-is-inside-this"),
        pytest.param("a banana", "banana", id="golden-article"),
        pytest.param("It is a cat", "cat", id="facts-is-then-a"),
        pytest.param("this is red", "", id="substring-tests-empty-result"),
        pytest.param("Wow! great", "wow", id="bang-split"),
        pytest.param("side of car", "side", id="of-keeps-what-precedes"),
        pytest.param("top of the table", "table", id="the-applied-before-of"),
        pytest.param("They are the cups of tea", "cups", id="are-then-the-then-of"),
        pytest.param("  Green  ", "green", id="strip-and-lower"),
    ],
)
def test_gqa_post_process(prediction: str, expected: str) -> None:
    assert gqa_post_process(prediction) == expected


def test_gqa_metrics() -> None:
    assert gqa_exact_match_qwen("The bag is black.", ["black"]) == 1.0
    assert gqa_exact_match_qwen("The bag is dark black.", ["black"]) == 0.0
    assert gqa_contains_monkey("The bag is dark black.", ["black"]) == 1.0
    assert gqa_contains_monkey("The answer is 3.5", ["3"]) == 1.0


OPTIONS = {"A": "red", "B": "blue", "C": "green"}


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        pytest.param(" B ", "B", id="one-character-as-is"),
        pytest.param("x", "x", id="one-character-even-if-not-an-option"),
        pytest.param("B. blue", "B", id="leading-option-letter"),
        pytest.param("The answer is green", "C", id="option-text-substring"),
        pytest.param("blue or red", "A", id="first-option-in-dict-order"),
        pytest.param("Purple", "Purple", id="stripped-text-fallback"),
        pytest.param("b. blue", "B", id="lowercase-letter-falls-to-text-match"),
        pytest.param("", "", id="empty-prediction"),
    ],
)
def test_scienceqa_choice(prediction: str, expected: str) -> None:
    assert scienceqa_choice(prediction, OPTIONS) == expected


def test_scienceqa_metric() -> None:
    assert scienceqa_mc_internvl("The answer is green", ["C"], options=OPTIONS) == 1.0
    assert scienceqa_mc_internvl("c", ["C"], options=OPTIONS) == 0.0  # case-sensitive letter compare
    assert scienceqa_mc_internvl("I pick blue", ["B"], options=["red", "blue"]) == 1.0  # list -> A, B, ...
    with pytest.raises(ValueError, match="no 'options' field"):
        scienceqa_mc_internvl("A", ["A"])
    with pytest.raises(TypeError, match="dict or a list"):
        scienceqa_mc_internvl("A", ["A"], options="AB")


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        pytest.param("The word is HELLO.", ["hello"], 1.0, id="lower-substring"),
        pytest.param("3.5 kg", ["3.5"], 1.0, id="periods-kept"),
        pytest.param("line one\nline two", ["one line"], 1.0, id="newline-becomes-space"),
        pytest.param("a  b", ["a b"], 0.0, id="internal-whitespace-not-collapsed"),
        pytest.param("x", [" X \n"], 1.0, id="gold-stripped"),
    ],
)
def test_ocrbench(prediction: str, golds: list[str], expected: float) -> None:
    assert ocrbench(prediction, golds) == expected


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        pytest.param("x ^ { 2 } + 1", ["x^{2}+1"], 1.0, id="ascii-spaces-deleted"),
        pytest.param("X^{2}", ["x^{2}"], 0.0, id="case-kept"),
        pytest.param("a\tb", ["ab"], 0.0, id="tabs-stay"),
        pytest.param("a\nb", ["ab"], 1.0, id="newline-to-space-then-deleted"),
        pytest.param("a\u3000b", ["ab"], 0.0, id="only-ascii-space-deleted"),
    ],
)
def test_ocrbench_hme100k(prediction: str, golds: list[str], expected: float) -> None:
    assert ocrbench_hme100k(prediction, golds) == expected
    assert ocrbench(prediction, golds, dataset_name="HME100k") == expected


@settings(max_examples=300, deadline=None)
@given(prediction=edge_text, golds=st.lists(edge_text, min_size=1, max_size=3))
def test_properties(prediction: str, golds: list[str]) -> None:
    for fn in (
        exact_match_qwen,
        contains_match_monkey,
        contains_match_textmonkey,
        ocrbench,
        ocrbench_hme100k,
    ):
        assert fn(prediction, golds) in (0.0, 1.0)
    assert exact_match_qwen(prediction, [prediction]) == 1.0
    assert ocrbench(prediction, [prediction]) == 1.0
    assert ocrbench_hme100k(prediction, [prediction]) == 1.0
    assert contains_match_textmonkey(prediction, [prediction]) == 1.0
    # Case invariance where the definition lowercases both sides (ASCII letters: no length changes).
    ascii_pred = prediction.encode("ascii", "ignore").decode()
    assert exact_match_qwen(ascii_pred.upper(), [ascii_pred]) == 1.0


@pytest.mark.parametrize(
    "fn", [exact_match_qwen, contains_match_monkey, contains_match_textmonkey, ocrbench, ocrbench_hme100k]
)
def test_empty_golds(fn: object) -> None:
    with pytest.raises(ValueError, match="no gold answers"):
        fn("a", [])  # type: ignore[operator]
