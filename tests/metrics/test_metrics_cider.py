"""CIDEr-D: hand-computed corpora, an independent textbook formula, corpus dependence, and cider_coco's
wiring and dependency errors (no Java needed: the tokenizer is injected or its absence simulated)."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from monkeyeval.core.errors import UserError
from monkeyeval.metrics.base import MissingDependencyError
from monkeyeval.metrics.builtin import cider as cider_module
from monkeyeval.metrics.builtin.cider import (
    cider_coco,
    cider_d,
    cider_pretokenized,
    ngram_counts,
    replace_java_line_breaks,
)


def textbook_cider_d(candidates: list[str], references: list[list[str]], n: int = 4, sigma: float = 6.0):
    """CIDEr-D written from the formula (Vedantam et al. + the pycocoevalcap choices), independently."""

    def grams(sentence: str, k: int) -> Counter[tuple[str, ...]]:
        words = sentence.split()
        return Counter(tuple(words[i : i + k]) for i in range(len(words) - k + 1))

    n_images = len(candidates)
    df: Counter[tuple[str, ...]] = Counter()
    for refs in references:
        df.update({g for r in refs for k in range(1, n + 1) for g in grams(r, k)})

    def weights(sentence: str, k: int) -> dict[tuple[str, ...], float]:
        return {
            g: tf * (math.log(n_images) - math.log(max(1, df[g]))) for g, tf in grams(sentence, k).items()
        }

    per_image = []
    for cand, refs in zip(candidates, references, strict=True):
        total = 0.0
        for ref in refs:
            delta = max(len(cand.split()) - 1, 0) - max(len(ref.split()) - 1, 0)  # bigram counts
            penalty = math.exp(-(delta**2) / (2 * sigma**2))
            orders = []
            for k in range(1, n + 1):
                h, r = weights(cand, k), weights(ref, k)
                dot = sum(min(v, r.get(g, 0.0)) * r.get(g, 0.0) for g, v in h.items())
                nh, nr = math.sqrt(sum(v * v for v in h.values())), math.sqrt(sum(v * v for v in r.values()))
                orders.append((dot / (nh * nr) if nh and nr else dot) * penalty)
            total += sum(orders) / n
        per_image.append(10.0 * total / len(refs))
    return sum(per_image) / len(per_image), per_image


def test_hand_computed_two_image_corpus() -> None:
    """Image 0: cand "a b c", ref "a b"; image 1: cand "x", ref "y z". N = 2, l = log 2.
    Every n-gram has df <= 1 so weight l (also unseen n-grams: log(max(1, 0)) = 0).
    Order 1: dot 2l^2 / (sqrt3 l * sqrt2 l) = 2/sqrt6; order 2: l^2 / (sqrt2 l * l) = 1/sqrt2;
    orders 3, 4: the reference has no such n-grams -> 0. Bigram counts 2 vs 1 -> penalty exp(-1/72).
    Image 1 shares nothing -> 0."""
    expected0 = 10 * (2 / math.sqrt(6) + 1 / math.sqrt(2)) / 4 * math.exp(-1 / 72)
    score, per = cider_d(["a b c", "x"], [["a b"], ["y z"]])
    assert per == pytest.approx([expected0, 0.0], abs=1e-12)
    assert score == pytest.approx(expected0 / 2, abs=1e-12)


def test_hand_computed_identical_pairs_score_five() -> None:
    """Identical 2-word captions, disjoint across images: orders 1 and 2 give cosine 1, orders 3-4 give 0,
    so (1 + 1 + 0 + 0) / 4 * 10 = 5."""
    score, per = cider_d(["a b", "c d"], [["a b"], ["c d"]])
    assert per == pytest.approx([5.0, 5.0], abs=1e-12)
    assert score == pytest.approx(5.0, abs=1e-12)


def test_three_image_corpus_with_multiple_references_matches_textbook_formula() -> None:
    candidates = ["a man riding a horse", "two dogs play in the snow", "a red bus"]
    references = [
        ["a man rides a horse", "a person on a horse", "man riding horse on a beach"],
        ["dogs playing in snow", "two dogs play together in the snow"],
        ["a red double decker bus", "the bus is red", "a bus on the street"],
    ]
    expected_score, expected_per = textbook_cider_d(candidates, references)
    score, per = cider_d(candidates, references)
    assert per == pytest.approx(expected_per, abs=1e-12)
    assert score == pytest.approx(expected_score, abs=1e-12)
    assert all(v > 0 for v in per)


def test_random_corpora_match_textbook_formula() -> None:
    rng = random.Random(3)
    vocab = ["a", "b", "c", "d", "the", "cat", "dog", "on", "mat"]

    def sentence() -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 8)))

    for _ in range(60):
        size = rng.randint(1, 5)
        candidates = [sentence() for _ in range(size)]
        references = [[sentence() for _ in range(rng.randint(1, 3))] for _ in range(size)]
        expected_score, expected_per = textbook_cider_d(candidates, references)
        score, per = cider_d(candidates, references)
        assert per == pytest.approx(expected_per, abs=1e-9)
        assert score == pytest.approx(expected_score, abs=1e-9)


def test_single_image_corpus_scores_zero() -> None:
    assert cider_d(["a b c"], [["a b c"]]) == (0.0, [0.0])


def test_ngrams_in_every_image_get_zero_idf() -> None:
    # "x" occurs in both images' references: idf 0; the candidates share only "x" with them.
    _, per = cider_d(["x", "x"], [["x y"], ["x z"]])
    assert per == [0.0, 0.0]


def test_per_image_score_depends_on_the_corpus() -> None:
    _, alone = cider_d(["a b c", "x"], [["a b"], ["y z"]])
    _, with_more = cider_d(["a b c", "x", "a"], [["a b"], ["y z"], ["a q"]])
    assert alone[0] != pytest.approx(with_more[0])


def test_case_and_punctuation_kept_when_pretokenized() -> None:
    _, per = cider_pretokenized(["A b", "c d"], [["a b"], ["c d"]])
    _, per_same = cider_pretokenized(["a b", "c d"], [["a b"], ["c d"]])
    assert per[0] < per_same[0]


def test_ngram_counts_order_and_content() -> None:
    counts = ngram_counts("a b a")
    assert list(counts) == [("a",), ("b",), ("a", "b"), ("b", "a"), ("a", "b", "a")]
    assert counts[("a",)] == 2


def test_errors() -> None:
    with pytest.raises(ValueError, match="image 1 has no reference"):
        cider_d(["a", "b"], [["a"], []])
    with pytest.raises(ValueError, match="2 predictions but 1 answer"):
        cider_d(["a", "b"], [["a"]])
    score, per = cider_d([], [])
    assert math.isnan(score) and per == []


# ------------------------------------------------------------------------------------------- cider_coco


def fake_ptb(captions: dict[int, list[str]]) -> dict[int, list[str]]:
    """Stand-in for the Java PTB tokenizer: lowercase, split off a few punctuation marks, drop them."""
    out = {}
    for key, values in captions.items():
        assert all("\n" not in v and "\u2028" not in v for v in values)
        out[key] = [
            " ".join(w for w in v.lower().replace(",", " , ").replace(".", " . ").split() if w not in ",.")
            for v in values
        ]
    return out


def test_cider_coco_tokenizes_then_scores_with_cider_d() -> None:
    predictions = ["A man, riding a horse.", "Two dogs\u2028play."]
    references = [["a man rides a horse", "A person on a horse."], ["dogs play", "two dogs play"]]
    score, per = cider_coco(predictions, references, tokenize=fake_ptb)
    expected = cider_d(
        ["a man riding a horse", "two dogs play"],
        [["a man rides a horse", "a person on a horse"], ["dogs play", "two dogs play"]],
    )
    assert (score, per) == expected


@pytest.mark.parametrize("char", list(cider_module.JAVA_LINE_BREAKS))
def test_java_line_breaks_replaced(char: str) -> None:
    assert replace_java_line_breaks(f"a{char}b") == "a b"


def test_cider_coco_missing_java(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cider_module.shutil, "which", lambda name: None)
    with pytest.raises(MissingDependencyError, match=r"needs Java .*default-jre-headless") as caught:
        cider_coco(["a"], [["a"]])
    assert isinstance(caught.value, UserError) and isinstance(caught.value, RuntimeError)


def test_cider_coco_missing_pycocoevalcap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cider_module.shutil, "which", lambda name: "/usr/bin/java")
    real_find_spec = cider_module.importlib.util.find_spec
    monkeypatch.setattr(
        cider_module.importlib.util,
        "find_spec",
        lambda name: None if name == "pycocoevalcap" else real_find_spec(name),
    )
    with pytest.raises(
        MissingDependencyError, match=r"pycocoevalcap \(`pip install 'monkeyeval\[cider\]'`\)"
    ):
        cider_coco(["a"], [["a"]])
