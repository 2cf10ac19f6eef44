"""Built-in plugin: the four ANLS variants (docs/metric-definitions.md "ANLS"), each with a batch form.

Every variant is `1 - min_j NL_j` thresholded at 0.5 (or the per-gold equivalent); they differ in how
strings are normalised before the distance, which lengths form the denominator, and whether NL == 0.5
exactly keeps 0.5 or scores 0. The batch functions return exactly the per-sample values (same IEEE
operations on the same integers), sample by sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from monkeyeval.metrics.base import Metric
from monkeyeval.metrics.checks import require_answers, require_same_length
from monkeyeval.metrics.levenshtein import levenshtein, pairwise_levenshtein

THRESHOLD = 0.5


def squash(text: str) -> str:
    """`" ".join(text.strip().lower().split())`: trim, lowercase and collapse whitespace runs."""
    return " ".join(text.strip().lower().split())


# ----------------------------------------------------------------------------------------------- per sample


def anls_docvqa(prediction: str, answers: list[str]) -> float:
    """RRC DocVQA/InfographicVQA scorer: distance on squashed strings, denominator from the RAW strings'
    `upper()` lengths, both empty -> NL 0; `1 - min NL`, zeroed below 0.5 (NL == 0.5 keeps 0.5)."""
    require_answers("anls_docvqa", answers)
    pred_squashed = squash(prediction)
    pred_len = len(prediction.upper())
    values = []
    for gold in answers:
        length = max(len(gold.upper()), pred_len)
        distance = levenshtein(squash(gold), pred_squashed)
        values.append(0.0 if length == 0 else distance / length)
    score = 1 - min(values)
    return 0.0 if score < THRESHOLD else float(score)


def anls_pypi(prediction: str, answers: list[str]) -> float:
    """PyPI `anls` 0.0.2 `anls_score`: squashed strings, denominator from the SQUASHED strings' `upper()`
    lengths; per gold `1 - NL if NL < 0.5 else 0` (NL == 0.5 scores 0), max over golds."""
    require_answers("anls_pypi", answers)
    pred_squashed = squash(prediction)
    pred_len = len(pred_squashed.upper())
    values = []
    for gold in answers:
        gold_squashed = squash(gold)
        length = max(pred_len, len(gold_squashed.upper()))
        nl = 0.0 if length == 0 else levenshtein(pred_squashed, gold_squashed) / length
        values.append(1 - nl if nl < THRESHOLD else 0.0)
    best = max(values)
    return float(best)


def anls_monkey(prediction: str, answers: list[str]) -> float:
    """Monkey `evaluateANLS`: pred stripped; distance on `lower().strip()` strings (whitespace runs kept);
    denominator `max(len(raw gold), len(stripped pred))` without `upper()`; NL == 0.5 keeps 0.5.

    Upstream iterates a *string* annotation character by character (facts §5.1); here golds are always a
    list (the loader wraps a bare string), which is the intended behaviour.
    """
    require_answers("anls_monkey", answers)
    pred = prediction.strip()
    pred_normalised = pred.lower().strip()
    values = []
    for gold in answers:
        length = max(len(gold), len(pred))
        distance = levenshtein(gold.lower().strip(), pred_normalised)
        values.append(0.0 if length == 0 else distance / length)
    score = 1 - min(values)
    return 0.0 if score < THRESHOLD else float(score)


def _mmf_empty_error(prediction: str, gold: str) -> ValueError:
    return ValueError(
        f"anls_mmf: prediction {prediction!r} and gold {gold!r} are both empty after lower().strip(); "
        "upstream MMF raises ZeroDivisionError here. Remove the empty gold answer from the dataset or use "
        "another ANLS variant"
    )


def anls_mmf(prediction: str, answers: list[str]) -> float:
    """MMF `STVQAANLSEvaluator`: `1 - lev/max(len)` on `lower().strip()` strings, kept if >= 0.5, max
    over golds. Both strings empty raises ValueError (upstream: ZeroDivisionError)."""
    require_answers("anls_mmf", answers)
    pred = prediction.lower().strip()
    best = 0.0
    for gold in answers:
        gold_normalised = gold.lower().strip()
        length = max(len(pred), len(gold_normalised))
        if length == 0:
            raise _mmf_empty_error(prediction, gold)
        similarity = 1 - levenshtein(pred, gold_normalised) / length
        value = similarity if similarity >= THRESHOLD else 0.0
        best = max(best, value)
    return float(best)


# ----------------------------------------------------------------------------------------------- batches


class _Flattened:
    """Every (prediction, gold) pair of a batch, with `starts[i]` = index of sample i's first pair."""

    def __init__(self, metric: str, predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> None:
        require_same_length(metric, predictions, answers)
        counts = np.fromiter((len(a) for a in answers), dtype=np.int64, count=len(answers))
        if counts.size and counts.min() == 0:
            bad = int(np.argmin(counts))
            raise ValueError(
                f"{metric}: sample {bad} has no gold answers (upstream crashes on an empty list); "
                "fix the dataset so every sample has at least one answer"
            )
        self.counts = counts
        self.starts = np.zeros(len(answers), dtype=np.int64)
        if len(answers) > 1:
            np.cumsum(counts[:-1], out=self.starts[1:])
        self.sample_of_pair = np.repeat(np.arange(len(answers)), counts)
        self.golds: list[str] = [g for golds in answers for g in golds]
        for gold in self.golds:
            if not isinstance(gold, str):
                raise TypeError(f"{metric}: gold answers must be strings, got {type(gold).__name__}")


def _expand(values: list[str], flat: _Flattened) -> list[str]:
    """Repeat each per-sample string once per gold of that sample."""
    if int(flat.counts.max(initial=0)) == 1 and len(values) == len(flat.golds):
        return values
    return [values[i] for i in flat.sample_of_pair.tolist()]


def _lengths(strings: Sequence[str], transform: Callable[[str], str] | None = None) -> np.ndarray:
    if transform is None:
        return np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    return np.fromiter((len(transform(s)) for s in strings), dtype=np.int64, count=len(strings))


def _normalised_distance(distances: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """`0.0 if length == 0 else distance / length`, elementwise."""
    safe = np.where(lengths == 0, 1, lengths)
    return np.where(lengths == 0, 0.0, distances / safe)


def _min_threshold(values: np.ndarray, flat: _Flattened) -> list[float]:
    """`1 - min(values of the sample)`, set to 0 below the threshold."""
    if values.size == 0:
        return []
    score = 1 - np.minimum.reduceat(values, flat.starts)
    return np.where(score < THRESHOLD, 0.0, score).tolist()


def anls_docvqa_batch(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> list[float]:
    """Vectorised `anls_docvqa`."""
    flat = _Flattened("anls_docvqa", predictions, answers)
    preds = list(predictions)
    pred_squashed = _expand([squash(p) for p in preds], flat)
    pred_len = _lengths(preds, str.upper)[flat.sample_of_pair]
    gold_len = _lengths(flat.golds, str.upper)
    distances = pairwise_levenshtein([squash(g) for g in flat.golds], pred_squashed)
    return _min_threshold(_normalised_distance(distances, np.maximum(gold_len, pred_len)), flat)


def anls_pypi_batch(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> list[float]:
    """Vectorised `anls_pypi`."""
    flat = _Flattened("anls_pypi", predictions, answers)
    pred_squashed_per_sample = [squash(p) for p in predictions]
    pred_len = _lengths(pred_squashed_per_sample, str.upper)[flat.sample_of_pair]
    gold_squashed = [squash(g) for g in flat.golds]
    gold_len = _lengths(gold_squashed, str.upper)
    distances = pairwise_levenshtein(_expand(pred_squashed_per_sample, flat), gold_squashed)
    nl = _normalised_distance(distances, np.maximum(pred_len, gold_len))
    per_gold = np.where(nl < THRESHOLD, 1 - nl, 0.0)
    if per_gold.size == 0:
        return []
    return np.maximum.reduceat(per_gold, flat.starts).tolist()


def anls_monkey_batch(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> list[float]:
    """Vectorised `anls_monkey`."""
    flat = _Flattened("anls_monkey", predictions, answers)
    stripped = [p.strip() for p in predictions]
    pred_len = _lengths(stripped)[flat.sample_of_pair]
    pred_normalised = _expand([p.lower().strip() for p in stripped], flat)
    gold_len = _lengths(flat.golds)
    distances = pairwise_levenshtein([g.lower().strip() for g in flat.golds], pred_normalised)
    return _min_threshold(_normalised_distance(distances, np.maximum(gold_len, pred_len)), flat)


def anls_mmf_batch(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> list[float]:
    """Vectorised `anls_mmf` (raises ValueError naming the sample when both strings are empty)."""
    flat = _Flattened("anls_mmf", predictions, answers)
    pred_per_sample = [p.lower().strip() for p in predictions]
    pred_len = _lengths(pred_per_sample)[flat.sample_of_pair]
    gold_normalised = [g.lower().strip() for g in flat.golds]
    lengths = np.maximum(pred_len, _lengths(gold_normalised))
    if lengths.size and lengths.min() == 0:
        pair = int(np.argmin(lengths))
        sample = int(flat.sample_of_pair[pair])
        error = _mmf_empty_error(predictions[sample], flat.golds[pair])
        raise ValueError(f"sample {sample}: {error}")
    distances = pairwise_levenshtein(_expand(pred_per_sample, flat), gold_normalised)
    similarity = 1 - distances / lengths
    per_gold = np.where(similarity >= THRESHOLD, similarity, 0.0)
    if per_gold.size == 0:
        return []
    return np.maximum.reduceat(per_gold, flat.starts).tolist()


METRICS: list[Metric] = [
    Metric(
        name="anls_docvqa",
        version="1",
        description=(
            "ANLS as the RRC DocVQA/InfographicVQA scorer: squashed strings, raw-length upper() denominator, "
            "NL == 0.5 keeps 0.5. Alias: anls."
        ),
        source="QwenLM/Qwen-VL@aa00ed0 eval_mm/infographicsvqa_eval.py (RRC DocVQA/InfoVQA scorer)",
        per_sample=anls_docvqa,
        batch=anls_docvqa_batch,
        aliases=("anls",),
    ),
    Metric(
        name="anls_pypi",
        version="1",
        description="ANLS as PyPI anls 0.0.2 anls_score: squashed strings and denominator; NL == 0.5 -> 0.",
        source="PyPI anls 0.0.2 (shunk031/ANLS) anls/metrics/score.py anls_score",
        per_sample=anls_pypi,
        batch=anls_pypi_batch,
    ),
    Metric(
        name="anls_monkey",
        version="1",
        description=(
            "ANLS as Monkey evaluateANLS: lower().strip() distance without whitespace collapse, denominator "
            "max(len(raw gold), len(stripped pred)). Golds always a list (upstream iterates a string "
            "annotation's characters)."
        ),
        source="Yuliang-Liu/Monkey@498e1d9 eval/evaluate_vqa.py evaluateANLS/normANLS",
        per_sample=anls_monkey,
        batch=anls_monkey_batch,
    ),
    Metric(
        name="anls_mmf",
        version="1",
        description=(
            "ANLS as MMF STVQAANLSEvaluator: 1 - lev/max(len) on lower().strip() strings, kept if >= 0.5. "
            "Both strings empty raises ValueError (upstream ZeroDivisionError)."
        ),
        source="facebookresearch/mmf mmf/utils/m4c_evaluators.py STVQAANLSEvaluator (LLaVA/InternVL copies)",
        per_sample=anls_mmf,
        batch=anls_mmf_batch,
    ),
]
