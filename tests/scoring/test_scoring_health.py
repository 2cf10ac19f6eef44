"""score_records: per-sample fill-in, health counts, error handling, aggregation kinds, CI determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.metrics.registry import MetricRegistry, load_metric_registry
from monkeyeval.results.scoring import score_records
from monkeyeval.tasks.config import DatasetSpec, TaskConfig


@pytest.fixture(scope="module")
def metrics() -> MetricRegistry:
    return load_metric_registry(extra_plugins=False)


def task(*metric_names: str, groups: tuple[str, ...] = ("g",)) -> TaskConfig:
    spec = DatasetSpec(jsonl=Path("/nonexistent.jsonl"), image_root=Path("/nonexistent"))
    return TaskConfig("t", Path("/t.yaml"), spec, tuple(metric_names), 10, groups=groups)


def rec(i: int, prediction: str, answers: list[str], **kwargs) -> PredictionRecord:
    return PredictionRecord(
        index=i, id=str(i), prompt=f"p{i}", prediction=prediction, answers=answers, **kwargs
    )


def test_health_counts_and_per_sample_scores(metrics):
    records = [
        rec(0, "cat", ["cat"]),
        rec(1, "dog", ["cat"], truncated=True),
        rec(2, "  ", ["cat"]),
        rec(3, "cat", ["cat"], error="image missing: /x.png"),  # right answer, but errored: scores 0
        rec(4, "", ["cat"], error="missing prediction"),
        rec(5, "cat", ["cat"], truncated=True),
    ]
    result = score_records(task("exact_match_qwen"), records, n_missing=1, metrics=metrics)
    assert [r.score for r in records] == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert all(r.scores == {"exact_match_qwen": r.score} for r in records)
    assert result.score == pytest.approx(2 / 6)
    assert (result.n, result.n_scored, result.n_errors, result.n_missing) == (6, 4, 1, 1)
    assert (result.n_empty, result.n_truncated) == (1, 2)
    out = result.to_json()
    assert out["schema"] == 1 and out["metric"] == "exact_match_qwen" and out["groups"] == ["g"]
    assert out["metrics"]["exact_match_qwen"]["aggregation"] == "mean"
    assert out["metrics"]["exact_match_qwen"]["version"] == metrics.get("exact_match_qwen").version
    json.dumps(out, allow_nan=False)  # strictly valid JSON


def test_every_metric_scored_and_primary_first(metrics):
    records = [rec(0, "New York", ["new york"]), rec(1, "Boston.", ["boston"])]
    result = score_records(task("anls_monkey", "contains_match_monkey"), records, metrics=metrics)
    assert result.metric == "anls_monkey"
    assert set(result.metrics) == {"anls_monkey", "contains_match_monkey"}
    # anls_monkey: "boston." vs "boston" -> distance 1 over length 7
    assert records[1].scores["anls_monkey"] == pytest.approx(1 - 1 / 7)
    assert records[1].scores["contains_match_monkey"] == 1.0  # periods removed from the prediction
    assert records[1].score == records[1].scores["anls_monkey"]


def test_n_missing_cannot_exceed_errored_records(metrics):
    with pytest.raises(ValueError, match="n_missing"):
        score_records(task("exact_match_qwen"), [rec(0, "a", ["a"])], n_missing=1, metrics=metrics)


def test_ci_is_deterministic_per_seed(metrics):
    def run(seed: int):
        records = [rec(i, "a" if i % 3 else "b", ["a"]) for i in range(60)]
        return score_records(task("exact_match_qwen"), records, seed=seed, metrics=metrics).ci95

    first, again, other = run(0), run(0), run(1)
    assert first == again
    assert first != other
    assert first is not None and first[0] <= 40 / 60 <= first[1]


def test_sum_aggregation_and_extra_fields(metrics):
    records = [rec(0, "X^2 + 1", ["x^2+1"]), rec(1, "Hello", ["hello"]), rec(2, "no", ["yes"])]
    samples = [
        Sample(i, str(i), "q", r.answers, "a.png", None, extra={"dataset_name": name})
        for i, (r, name) in enumerate(zip(records, ["HME100k", "IIIT5K", "IIIT5K"], strict=True))
    ]
    result = score_records(task("ocrbench"), records, samples=samples, metrics=metrics)
    # HME100k keeps case and removes spaces: "X^2+1" does not contain "x^2+1"
    assert [r.score for r in records] == [0.0, 1.0, 0.0]
    assert result.score == 1.0 and result.metrics["ocrbench"].aggregation == "sum"
    assert result.ci95 is not None and 0.0 <= result.ci95[0] <= result.ci95[1] <= 3.0
    records[0].prediction = "x^2 + 1"
    assert score_records(task("ocrbench"), records, samples=samples, metrics=metrics).score == 2.0


def test_samples_must_cover_records(metrics):
    samples = [Sample(0, "0", "q", ["a"], "a.png", None)]
    with pytest.raises(ValueError, match="no matching sample"):
        score_records(
            task("ocrbench"), [rec(0, "a", ["a"]), rec(1, "b", ["b"])], samples=samples, metrics=metrics
        )


def test_corpus_metric_has_no_ci_or_per_sample_record_scores(metrics):
    records = [rec(0, "a red bus", ["a red bus on the road"]), rec(1, "two cats", ["two cats sleeping"])]
    result = score_records(task("cider_pretokenized"), records, metrics=metrics)
    assert result.ci95 is None
    assert all(r.scores == {"cider_pretokenized": None} and r.score is None for r in records)
    expected, _ = metrics.get("cider_pretokenized").score_samples(
        [r.prediction for r in records], [r.answers for r in records]
    )
    assert result.score == pytest.approx(expected)
