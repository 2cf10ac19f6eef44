"""ANLS variants: every rule of the definitions, the golden vectors, properties, batch == per-sample, and
exact equality of anls_pypi with the installed `anls` package."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
from anls import anls_score
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_strategies import ascii_text, edge_text, random_answer_pairs, random_edge_text

from monkeyeval.metrics.builtin.anls import (
    anls_docvqa,
    anls_docvqa_batch,
    anls_mmf,
    anls_mmf_batch,
    anls_monkey,
    anls_monkey_batch,
    anls_pypi,
    anls_pypi_batch,
    squash,
)

Fn = Callable[[str, list[str]], float]
VARIANTS: dict[str, Fn] = {
    "anls_docvqa": anls_docvqa,
    "anls_pypi": anls_pypi,
    "anls_monkey": anls_monkey,
    "anls_mmf": anls_mmf,
}
BATCHES = {
    "anls_docvqa": anls_docvqa_batch,
    "anls_pypi": anls_pypi_batch,
    "anls_monkey": anls_monkey_batch,
    "anls_mmf": anls_mmf_batch,
}

# (rule id, prediction, golds, expected score per variant in the order docvqa, pypi, monkey, mmf).
# Expected values are worked out by hand from the definitions (distance d, denominator L).
RULE_CASES = [
    ("identical", "pizzeria", ["pizzeria"], (1.0, 1.0, 1.0, 1.0)),
    ("case-insensitive-distance", "PIZZERIA", ["pizzeria"], (1.0, 1.0, 1.0, 1.0)),
    # d("ab","ac")=1, L=2: NL == 0.5 exactly keeps 0.5 except in anls_pypi (strict <).
    ("nl-exactly-half", "ab", ["ac"], (0.5, 0.0, 0.5, 0.5)),
    ("below-threshold-scores-zero", "abc", ["xyz"], (0.0, 0.0, 0.0, 0.0)),
    # Padded prediction: docvqa divides by the RAW length 6 -> 1 - 1/6; pypi by the squashed length 2 ->
    # 0.5 -> 0; monkey strips the prediction (L=2) -> 0.5; mmf strips too -> 0.5.
    ("raw-vs-squashed-denominator-pred-padding", "  ac  ", ["ab"], (1 - 1 / 6, 0.0, 0.5, 0.5)),
    # Padded gold: monkey keeps the RAW gold length (6) like docvqa; mmf strips it.
    ("raw-gold-length-monkey", "ac", ["  ab  "], (1 - 1 / 6, 0.0, 1 - 1 / 6, 0.5)),
    # Internal whitespace: docvqa/pypi collapse it (d=0); monkey/mmf do not: d=1 over L=9.
    ("whitespace-runs-collapsed-or-not", "new york", ["New  York"], (1.0, 1.0, 8 / 9, 8 / 9)),
    # "ß".upper() == "SS": docvqa/pypi denominators become 2, so d=1 gives NL 0.5 (docvqa keeps 0.5, pypi 0);
    # monkey/mmf use plain lengths (1): NL 1 -> 0.
    ("upper-lengthens-eszett", "s", ["ß"], (0.5, 0.0, 0.0, 0.0)),
    ("upper-lengthens-fi-ligature", "f", ["ﬁ"], (0.5, 0.0, 0.0, 0.0)),
    # Both raw strings empty -> NL 0 -> score 1 (docvqa, pypi, monkey); mmf raises (tested separately).
    ("both-empty", "", [""], (1.0, 1.0, 1.0, None)),
    # Whitespace-only prediction vs empty gold: squashed both "", docvqa's raw denominator 3 -> NL 0.
    ("whitespace-pred-empty-gold", "   ", [""], (1.0, 1.0, 1.0, None)),
    # Best gold wins: min NL / max similarity over golds, 1 - 1/3.
    ("max-over-golds", "abc", ["xyz", "abd"], (2 / 3, 2 / 3, 2 / 3, 2 / 3)),
    ("unicode-whitespace-collapsed", "a\u3000b", ["a b"], (1.0, 1.0, 2 / 3, 2 / 3)),
]


@pytest.mark.parametrize("variant_index", range(4), ids=list(VARIANTS))
@pytest.mark.parametrize(
    ("prediction", "golds", "expected"), [c[1:] for c in RULE_CASES], ids=[c[0] for c in RULE_CASES]
)
def test_rule(
    variant_index: int, prediction: str, golds: list[str], expected: tuple[float | None, ...]
) -> None:
    name = list(VARIANTS)[variant_index]
    value = expected[variant_index]
    if value is None:
        with pytest.raises(ValueError, match="both empty"):
            VARIANTS[name](prediction, golds)
        return
    assert VARIANTS[name](prediction, golds) == pytest.approx(value, abs=1e-12)


def test_monkey_golden_vectors() -> None:
    """facts §9: Monkey `evaluateANLS` outputs."""
    records = [(" Pizzeria ", ["pizzeria"]), ("pizza", ["pizzeria"]), ("25%", ["5%"])]
    assert float(np.mean([anls_monkey(p, g) for p, g in records])) == pytest.approx(0.763889, abs=5e-7)
    assert anls_monkey("new york", ["New  York"]) == pytest.approx(0.888889, abs=5e-7)


def test_monkey_string_annotation_bug_is_not_reproduced() -> None:
    """Upstream iterates a bare-string annotation character by character ("abc" vs "abc" -> 0.0); golds reach
    the metric as a list, so the same record scores 1. Iterating the characters reproduces upstream's 0."""
    assert anls_monkey("abc", ["abc"]) == 1.0
    assert anls_monkey("abc", list("abc")) == 0.0


@pytest.mark.parametrize("name", list(VARIANTS))
def test_empty_gold_list_is_a_clear_error(name: str) -> None:
    with pytest.raises(ValueError, match="no gold answers"):
        VARIANTS[name]("x", [])
    with pytest.raises(ValueError, match="sample 1 has no gold answers"):
        BATCHES[name](["x", "y"], [["x"], []])


def test_mmf_both_empty_raises_naming_the_sample() -> None:
    with pytest.raises(ValueError, match=r"sample 2: anls_mmf: prediction ' ' and gold '' are both empty"):
        anls_mmf_batch(["a", "b", " "], [["a"], ["b"], ["x", ""]])


def test_mmf_empty_gold_with_nonempty_prediction_scores() -> None:
    assert anls_mmf("a", ["", "a"]) == 1.0
    assert anls_mmf("a", [""]) == 0.0


def test_squash() -> None:
    assert squash("  New \t\n York\u3000 ") == "new york"


# ---------------------------------------------------------------------------------------------- properties


def _safe(name: str, prediction: str, golds: list[str]) -> float | None:
    try:
        return VARIANTS[name](prediction, golds)
    except ValueError:
        assert name == "anls_mmf"
        return None


@settings(max_examples=300, deadline=None)
@given(prediction=edge_text, golds=st.lists(edge_text, min_size=1, max_size=3))
def test_bounds(prediction: str, golds: list[str]) -> None:
    for name in VARIANTS:
        value = _safe(name, prediction, golds)
        assert value is None or (value == 0.0 or 0.5 <= value <= 1.0)


@settings(max_examples=300, deadline=None)
@given(a=edge_text, b=edge_text)
def test_symmetry_where_defined(a: str, b: str) -> None:
    """docvqa, pypi and mmf treat prediction and gold alike; monkey does not (stripped pred, raw gold)."""
    for name in ("anls_docvqa", "anls_pypi", "anls_mmf"):
        assert _safe(name, a, [b]) == _safe(name, b, [a])


def test_monkey_is_not_symmetric() -> None:
    assert anls_monkey("  ac  ", ["ab"]) != anls_monkey("ab", ["  ac  "])


@settings(max_examples=300, deadline=None)
@given(prediction=ascii_text, gold=ascii_text)
def test_case_invariance_ascii(prediction: str, gold: str) -> None:
    """Every variant is case-insensitive; on ASCII, case changes do not change lengths (unicode case
    mappings such as ß -> SS can, and the definitions keep that)."""
    for name in VARIANTS:
        assert _safe(name, prediction.upper(), [gold.swapcase()]) == _safe(name, prediction, [gold])


@settings(max_examples=300, deadline=None)
@given(text=edge_text)
def test_identity(text: str) -> None:
    for name in VARIANTS:
        if name == "anls_mmf" and not text.lower().strip():
            continue
        assert VARIANTS[name](text, [text]) == 1.0


# ----------------------------------------------------------------------------- batch and package parity


@pytest.mark.parametrize("name", list(VARIANTS))
def test_batch_equals_per_sample(name: str) -> None:
    predictions, answers = random_answer_pairs(seed=11, count=4000)
    if name == "anls_mmf":
        keep = [
            i
            for i, (p, golds) in enumerate(zip(predictions, answers, strict=True))
            if p.lower().strip() and all(g.lower().strip() for g in golds)
        ]
        predictions = [predictions[i] for i in keep]
        answers = [answers[i] for i in keep]
    expected = [VARIANTS[name](p, g) for p, g in zip(predictions, answers, strict=True)]
    got = BATCHES[name](predictions, answers)
    assert got == expected  # exact float equality, sample by sample
    assert 0.0 in got and 1.0 in got and any(0.5 <= v < 1.0 for v in got)
    assert BATCHES[name]([], []) == []


def test_pypi_port_equals_installed_anls_package() -> None:
    rng = random.Random(2024)
    checked = 0
    predictions, answers = random_answer_pairs(seed=5, count=2500)
    extra = [(random_edge_text(rng).upper(), [random_edge_text(rng)]) for _ in range(500)]
    cases = list(zip(predictions, answers, strict=True)) + extra
    for prediction, golds in cases:
        assert anls_pypi(prediction, golds) == anls_score(prediction, golds), (prediction, golds)
        checked += 1
    batch = anls_pypi_batch([c[0] for c in cases], [c[1] for c in cases])
    assert batch == [anls_score(p, g) for p, g in cases]
    assert checked >= 3000
