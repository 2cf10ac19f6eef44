"""VQA answer normalisation and the three soft-accuracy variants, rule by rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_strategies import edge_text

from monkeyeval.metrics.builtin._vqa_tables import CONTRACTIONS, PUNCTUATION
from monkeyeval.metrics.builtin.vqa_accuracy import (
    evalai_normalize,
    process_digit_article,
    process_punctuation,
    soft_accuracy,
    textvqa_accuracy_mmf,
    vqa_accuracy_lavis,
    vqa_accuracy_official,
)


def full_normalize(text: str) -> str:
    return process_digit_article(process_punctuation(text))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Two", "2", id="golden-Two"),
        pytest.param("the Coca-Cola!", "coca cola", id="golden-coca-cola"),
        pytest.param("1,000", "1000", id="golden-digit-comma"),
        pytest.param("U.S.A.", "usa", id="golden-periods"),
        pytest.param("dont", "don't", id="golden-contraction"),
        pytest.param("ten dollars", "10 dollars", id="golden-number-word"),
        pytest.param("3.5", "3.5", id="golden-decimal"),
        pytest.param("hello-world", "hello world", id="golden-hyphen"),
        pytest.param("e.g. test", "eg test", id="facts-5.2-eg"),
    ],
)
def test_golden_normalisation(raw: str, expected: str) -> None:
    """facts §9 / §5.2: outputs of the upstream functions (prediction side)."""
    assert full_normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("hello-world", "hello world", id="mark-without-adjacent-space-becomes-space"),
        pytest.param("hello- world", "hello world", id="mark-followed-by-space-is-deleted"),
        pytest.param("a -b", "a b", id="mark-preceded-by-space-is-deleted"),
        pytest.param("a/b, c", "a b c", id="test-per-mark-on-original-text"),
        pytest.param("1,000 (approx)", "1000 approx", id="digit-comma-digit-anywhere-deletes-every-mark"),
        pytest.param("a(b)1,2", "ab12", id="digit-comma-digit-deletes-brackets-too"),
        pytest.param("5.", "5", id="lookahead-typo-deletes-period-after-digit"),
        pytest.param("a.5", "a.5", id="period-before-digit-kept"),
        pytest.param("\u0661.\u0662", "\u0661.\u0662", id="unicode-digit-after-period-keeps-it"),
        pytest.param("\u0661,\u0662 x-y", "\u0661\u0662 xy", id="unicode-digit-comma-digit-rule"),
        pytest.param("a" + "." * 40, "a" + "." * 8, id="at-most-32-periods-deleted"),
        pytest.param("a.1" * 40, "a.1" * 40, id="periods-before-digits-do-not-count"),
        pytest.param("x:y'z*", "x:y'z*", id="marks-outside-the-21-are-kept"),
    ],
)
def test_process_punctuation(raw: str, expected: str) -> None:
    assert process_punctuation(raw) == expected


def test_punctuation_table() -> None:
    assert len(PUNCTUATION) == 21 and len(set(PUNCTUATION)) == 21
    assert set(PUNCTUATION) == set(';/[]"{}()=+\\_-><@`,?!')


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("None of Them", "0 of them", id="lowercase-and-none-is-0"),
        pytest.param(
            "zero one two three four five six seven eight nine ten eleven",
            "0 1 2 3 4 5 6 7 8 9 10 eleven",
            id="number-words-zero-to-ten-only",
        ),
        pytest.param("the a an cat", "cat", id="articles-dropped"),
        pytest.param("a  b\tc\n", "b c", id="whitespace-split-and-single-spaces"),
        pytest.param("dont wont", "don't won't", id="contractions"),
        pytest.param("Im Ive", "im ive", id="capitalised-keys-never-match"),
        pytest.param("somebody'd", "somebodyd", id="somebody'd-reversed-entry"),
        pytest.param("Theyre", "they're", id="lowercased-before-lookup"),
    ],
)
def test_process_digit_article(raw: str, expected: str) -> None:
    assert process_digit_article(raw) == expected


def test_contraction_table() -> None:
    assert len(CONTRACTIONS) == 120
    assert CONTRACTIONS["somebody'd"] == "somebodyd"
    assert {"Im", "Ive", "Id've", "I'dve"} <= set(CONTRACTIONS)


# ------------------------------------------------------------------------------------------------ scoring


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        pytest.param("2", ["2"] * 10, 1.0, id="all-match"),
        pytest.param("2", ["2"] * 3 + ["x"] * 7, 0.9, id="three-matches-leave-one-out-by-position"),
        pytest.param("2", ["2"] * 2 + ["x"] * 8, 0.6, id="two-matches"),
        pytest.param("2", ["2"] + ["x"] * 9, 0.3, id="one-match"),
        pytest.param("2", ["x"] * 10, 0.0, id="no-match"),
        pytest.param("2", ["2", "2"], 1 / 3, id="short-lists-too"),
    ],
)
def test_soft_accuracy(prediction: str, golds: list[str], expected: float) -> None:
    assert soft_accuracy(prediction, golds) == pytest.approx(expected, abs=1e-12)


OFFICIAL_CASES = [
    ("identical-golds-no-normalisation", "two", ["2"] * 10, 0.0),
    ("identical-golds-case-not-folded", "two", ["Two"] * 10, 0.0),
    ("identical-golds-still-stripped", " 2\n", ["2\t"] * 10, 1.0),
    ("differing-golds-normalise-both", "Two!", ["2"] * 9 + ["3"], 1.0),
    ("differing-golds-lowercased", "Yes", ["YES"] * 5 + ["no"] * 5, 1.0),
    ("differing-golds-punctuation", "coca-cola", ["Coca Cola"] * 4 + ["pepsi"] * 6, 1.0),
    ("identical-golds-pred-not-normalised", "The Cat!", ["cat"] * 10, 0.0),
]


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"), [c[1:] for c in OFFICIAL_CASES], ids=[c[0] for c in OFFICIAL_CASES]
)
def test_official(prediction: str, golds: list[str], expected: float) -> None:
    assert vqa_accuracy_official(prediction, golds) == pytest.approx(expected, abs=1e-12)


LAVIS_CASES = [
    ("pred-always-normalised", "The Cat!", ["cat"] * 10, 1.0),
    ("golds-never-lowercased", "2", ["Two"] * 10, 0.0),
    ("golds-never-number-mapped", "two", ["two"] * 10, 0.0),
    ("golds-with-newline-never-match", "hello world", ["hello\nworld"] * 9 + ["x"], 0.0),
    ("identical-golds-no-punctuation-pass", "coca-cola", ["coca-cola"] * 10, 0.0),
    ("differing-golds-punctuation-pass", "coca-cola", ["coca-cola"] * 9 + ["pepsi"], 1.0),
    ("golds-never-stripped", "cat", [" cat"] * 10, 0.0),
    ("pred-newline-and-tab-cleaned", "red\tcar\n", ["red car"] * 10, 1.0),
]


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"), [c[1:] for c in LAVIS_CASES], ids=[c[0] for c in LAVIS_CASES]
)
def test_lavis(prediction: str, golds: list[str], expected: float) -> None:
    assert vqa_accuracy_lavis(prediction, golds) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("John's", "john 's", id="apostrophe-s-split"),
        pytest.param("what?", "what", id="question-mark-deleted-first"),
        pytest.param("x-y, 1,2", "x y 12", id="commas-gone-so-comma-rule-never-fires"),
        pytest.param(" The\tTwo\n", "2", id="lower-strip-digit-article"),
    ],
)
def test_evalai_normalize(raw: str, expected: str) -> None:
    assert evalai_normalize(raw) == expected


def test_official_comma_rule_differs_from_mmf() -> None:
    assert full_normalize("x-y, 1,2") == "xy 12"


MMF_CASES = [
    ("both-sides-normalised-even-if-identical", "Two", ["two"] * 10, 1.0),
    ("apostrophe-s", "John's", ["john 's"] * 10, 1.0),
    ("soft-score", "2", ["2"] * 2 + ["x"] * 8, 0.6),
    ("unknown-answer-scores-0", "blue", ["red"] * 10, 0.0),
]


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"), [c[1:] for c in MMF_CASES], ids=[c[0] for c in MMF_CASES]
)
def test_mmf(prediction: str, golds: list[str], expected: float) -> None:
    assert textvqa_accuracy_mmf(prediction, golds) == pytest.approx(expected, abs=1e-12)


def test_variants_disagree_on_documented_examples() -> None:
    assert vqa_accuracy_official("Two", ["two"] * 10) == 0.0
    assert textvqa_accuracy_mmf("Two", ["two"] * 10) == 1.0
    assert vqa_accuracy_lavis("Two", ["two"] * 10) == 0.0


@pytest.mark.parametrize("count", [0, 1, 9, 11])
def test_mmf_requires_exactly_ten_answers(count: int) -> None:
    with pytest.raises(ValueError, match="exactly 10 gold answers"):
        textvqa_accuracy_mmf("a", ["a"] * count)


@pytest.mark.parametrize("fn", [vqa_accuracy_official, vqa_accuracy_lavis])
def test_empty_golds_is_a_clear_error(fn: object) -> None:
    with pytest.raises(ValueError, match="no gold answers"):
        fn("a", [])  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(prediction=edge_text, golds=st.lists(edge_text, min_size=10, max_size=10))
def test_bounds_and_identity(prediction: str, golds: list[str]) -> None:
    for fn in (vqa_accuracy_official, vqa_accuracy_lavis, textvqa_accuracy_mmf):
        value = fn(prediction, golds)
        assert 0.0 <= value <= 1.0
        assert value * 30 == pytest.approx(round(value * 30))  # multiples of 1/30 for 10 answers
    assert vqa_accuracy_official(prediction, [prediction] * 10) == 1.0
    assert textvqa_accuracy_mmf(prediction, [prediction] * 10) == 1.0
