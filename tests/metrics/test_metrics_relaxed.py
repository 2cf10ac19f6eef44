"""ChartQA relaxed accuracy: pix2struct orientation and the Qwen-VL/Monkey swap, rule by rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monkeyeval.metrics.builtin.relaxed_accuracy import (
    parse_number,
    relaxed_accuracy_pix2struct,
    relaxed_accuracy_qwen,
    relaxed_accuracy_vlmevalkit,
    relaxed_correctness,
)


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        pytest.param("95.1", "100", 0.0, id="golden-95.1-vs-100"),
        pytest.param("105.2", "100", 1.0, id="golden-105.2-vs-100"),
        pytest.param("104.9", "100", 1.0, id="golden-104.9-vs-100"),
        pytest.param("45%", "45", 0.0, id="golden-percent-pred"),
        pytest.param("0.45", "45%", 1.0, id="golden-percent-gold"),
        pytest.param("45 million", "45", 0.0, id="golden-unparsable-pred"),
        pytest.param("95", "100", 0.0, id="swap-gold-100-pred-95-scores-0"),
        pytest.param("105", "100", 1.0, id="swap-gold-100-pred-105-scores-1"),
        pytest.param("  105 \n", "100", 1.0, id="prediction-stripped"),
        pytest.param("0", "0", 1.0, id="zero-target-falls-back-to-string-equality"),
        pytest.param("0", "0.0", 0.0, id="zero-target-string-mismatch"),
        pytest.param("0.0", "0.01", 0.0, id="zero-prediction-is-the-target-in-the-swap"),
        pytest.param("Yes", "yes", 1.0, id="string-fallback-case-insensitive"),
        pytest.param("nan", "nan", 0.0, id="nan-target-is-truthy-and-never-within"),
        pytest.param("inf", "inf", 0.0, id="inf-minus-inf-is-nan"),
        pytest.param("1e2", "100", 1.0, id="python-float-syntax"),
        pytest.param("1_000", "1000", 1.0, id="python-float-underscores"),
        pytest.param("50%%", "0.5", 1.0, id="all-trailing-percent-stripped"),
    ],
)
def test_qwen(prediction: str, gold: str, expected: float) -> None:
    assert relaxed_accuracy_qwen(prediction, [gold]) == expected


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        pytest.param("95", "100", 1.0, id="gold-relative-window-95"),
        pytest.param("105", "100", 1.0, id="gold-relative-window-105"),
        pytest.param("95.1", "100", 1.0, id="95.1-within-5pct-of-gold"),
        pytest.param("105.2", "100", 0.0, id="105.2-outside-5pct-of-gold"),
        pytest.param("0.01", "0.0", 0.0, id="zero-gold-falls-back-to-string-equality"),
        pytest.param("0", "0", 1.0, id="zero-gold-string-equal"),
        pytest.param("45%", "0.45", 1.0, id="percent-prediction"),
        pytest.param(" 100 ", "100", 1.0, id="float-accepts-surrounding-whitespace"),
        pytest.param("cat ", "cat", 0.0, id="no-strip-in-string-fallback"),
        pytest.param("100% ", "100", 0.0, id="percent-not-at-end-does-not-parse"),
        pytest.param("nan", "1", 0.0, id="nan-prediction"),
    ],
)
def test_pix2struct(prediction: str, gold: str, expected: float) -> None:
    assert relaxed_accuracy_pix2struct(prediction, [gold]) == expected


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        pytest.param(" No ", "No", 1.0, id="padded-prediction-stripped"),
        pytest.param("No\n", "No", 1.0, id="trailing-newline-stripped"),
        pytest.param("No", " No", 0.0, id="gold-not-stripped"),
        pytest.param(" 95 ", "100", 1.0, id="window-relative-to-the-gold"),
        pytest.param("105", "100", 1.0, id="105-within-5pct-of-gold"),
        pytest.param("100", "95", 0.0, id="100-outside-5pct-of-gold-95"),
        pytest.param(" 45% ", "0.45", 1.0, id="percent-after-strip"),
        pytest.param("0", "0", 1.0, id="zero-gold-string-equal"),
        pytest.param("cat", "CAT", 1.0, id="case-insensitive-fallback"),
    ],
)
def test_vlmevalkit(prediction: str, gold: str, expected: float) -> None:
    assert relaxed_accuracy_vlmevalkit(prediction, [gold]) == expected


def test_vlmevalkit_differs_from_pix2struct_only_by_the_strip() -> None:
    assert relaxed_accuracy_pix2struct(" No ", ["No"]) == 0.0  # the Mini-Monkey ChartQA case of issue 11
    assert relaxed_accuracy_vlmevalkit(" No ", ["No"]) == relaxed_accuracy_pix2struct("No", ["No"]) == 1.0


def test_max_over_golds() -> None:
    assert relaxed_accuracy_pix2struct("12", ["x", "12.5"]) == 1.0
    assert relaxed_accuracy_qwen("12", ["x", "y"]) == 0.0


def test_parse_number() -> None:
    assert parse_number("45%") == pytest.approx(0.45)
    assert parse_number(" 3 ") == 3.0
    assert parse_number("abc") is None
    assert parse_number("%") is None


def test_empty_golds() -> None:
    with pytest.raises(ValueError, match="no gold answers"):
        relaxed_accuracy_qwen("1", [])


numbers = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(repr)


@settings(max_examples=300, deadline=None)
@given(prediction=numbers, gold=numbers)
def test_qwen_is_pix2struct_with_arguments_swapped(prediction: str, gold: str) -> None:
    assert relaxed_accuracy_qwen(prediction, [gold]) == float(relaxed_correctness(prediction, gold))
    assert relaxed_accuracy_pix2struct(prediction, [gold]) == float(relaxed_correctness(gold, prediction))
    assert relaxed_accuracy_pix2struct(prediction, [prediction]) == 1.0
    padded = f"  {prediction}\t"
    assert relaxed_accuracy_vlmevalkit(padded, [gold]) == float(relaxed_correctness(gold, prediction))
