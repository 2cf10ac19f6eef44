"""Scoring a task's prediction records: per-sample scores, aggregates, bootstrap CIs and health counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.metrics.registry import MetricRegistry, load_metric_registry
from monkeyeval.metrics.stats import bootstrap_ci
from monkeyeval.results.schema import MetricScore, TaskScore, finite_or_none
from monkeyeval.tasks.config import BreakdownSpec, TaskConfig


def score_records(
    task: TaskConfig,
    records: list[PredictionRecord],
    samples: list[Sample] | None = None,
    seed: int = 0,
    n_missing: int = 0,
    metrics: MetricRegistry | None = None,
) -> TaskScore:
    """Score `records` (dataset order) with every metric of `task`; fills `record.score`/`.scores` in place.

    Records with an error score 0 on every metric. `n_missing` says how many of the errored records are
    placeholders for missing predictions (reported as n_missing instead of n_errors). `samples` (same order,
    matched by id) supply the `extra` fields some metrics need (e.g. OCRBench's `type`). CIs come from
    `monkeyeval.metrics.stats.bootstrap_ci` with `seed`; corpus metrics get no CI. `metrics` defaults to the
    metric registry.
    """
    metrics = metrics if metrics is not None else load_metric_registry()
    extras = _extras_for(records, samples)
    errored = [r.error is not None for r in records]
    n_errored = sum(errored)
    if not 0 <= n_missing <= n_errored:
        raise ValueError(f"n_missing={n_missing} but only {n_errored} records carry an error")
    predictions = ["" if bad else r.prediction for r, bad in zip(records, errored, strict=True)]
    answers = [r.answers for r in records]
    results: dict[str, MetricScore] = {}
    for name in task.metrics:
        metric = metrics.get(name)
        aggregate, per_sample = metric.score_samples(predictions, answers, extras)
        per_sample = [0.0 if bad else float(v) for v, bad in zip(per_sample, errored, strict=True)]
        ci: tuple[float, float] | None = None
        if metric.aggregation == "corpus":
            stored: list[float | None] = [None] * len(records)
        else:
            aggregate = _aggregate(per_sample, metric.aggregation)
            stored = list(per_sample)
            if per_sample:
                low, high = bootstrap_ci(per_sample, metric.aggregation, seed=seed)
                ci = (float(low), float(high))
        for record, value in zip(records, stored, strict=True):
            record.scores[metric.name] = value
        results[metric.name] = MetricScore(
            metric.name, float(aggregate), ci, metric.aggregation, metric.version
        )
    primary = task.primary_metric
    for record in records:
        record.score = record.scores.get(primary)
    breakdown = None
    primary_metric = results[primary]
    if task.breakdown is not None and samples is not None and primary_metric.aggregation != "corpus":
        values = [record.scores[primary] for record in records]
        breakdown = category_breakdown(
            task.breakdown,
            [extra.get(task.breakdown.field_name) for extra in extras],
            values,
            primary_metric.aggregation,
        )
    health = health_counts(records, n_missing)
    return TaskScore(
        task=task.name,
        groups=list(task.groups),
        metric=primary,
        metrics=results,
        n=len(records),
        n_scored=len(records) - n_errored,
        n_errors=health.n_errors,
        n_empty=health.n_empty,
        n_truncated=health.n_truncated,
        n_missing=health.n_missing,
        breakdown=breakdown,
    )


@dataclass(frozen=True)
class HealthCounts:
    """The health counts scores.json and predict_only.json share: `n_errors` (errored records that are not
    missing predictions), `n_empty` (error-free records with a blank prediction), `n_truncated`,
    `n_missing`."""

    n_errors: int
    n_empty: int
    n_truncated: int
    n_missing: int


def health_counts(records: Sequence[PredictionRecord], n_missing: int = 0) -> HealthCounts:
    """Count `records`' health; `n_missing` of the errored records stand for missing predictions."""
    return HealthCounts(
        n_errors=sum(r.error is not None for r in records) - n_missing,
        n_empty=sum(1 for r in records if r.error is None and not r.prediction.strip()),
        n_truncated=sum(1 for r in records if r.truncated),
        n_missing=n_missing,
    )


MISSING_CATEGORY = "(no category)"


def category_breakdown(
    spec: BreakdownSpec, categories: Sequence[Any], values: Sequence[float | None], aggregation: str
) -> dict[str, dict[str, Any]]:
    """Per-category aggregate of per-sample `values` (`aggregation`: sum or mean), in first-seen order.

    Categories named in a `spec.groups` entry are folded into that group, whose entry also holds a
    `"members"` object with each member's own score (members in the YAML's order, those present only).
    Samples without the category field count under "(no category)". Every entry is `{"score", "n"}`.
    """
    per_category: dict[str, list[float]] = {}
    for category, value in zip(categories, values, strict=True):
        name = MISSING_CATEGORY if category is None or category == "" else str(category)
        per_category.setdefault(name, []).append(0.0 if value is None else float(value))

    def entry(scores: list[float]) -> dict[str, Any]:
        return {"score": finite_or_none(_aggregate(scores, aggregation)), "n": len(scores)}

    out: dict[str, dict[str, Any]] = {}
    for name in per_category:
        top = spec.group_of(name)
        if top in out:
            continue
        if top not in spec.groups:
            out[top] = entry(per_category[name])
            continue
        present = [member for member in spec.groups[top] if member in per_category]
        pooled = [value for member in present for value in per_category[member]]
        out[top] = {**entry(pooled), "members": {member: entry(per_category[member]) for member in present}}
    return out


def _aggregate(per_sample: Sequence[float], aggregation: str) -> float:
    if not per_sample:
        return float("nan")
    total = float(sum(per_sample))
    return total if aggregation == "sum" else total / len(per_sample)


def _extras_for(records: list[PredictionRecord], samples: list[Sample] | None) -> list[dict[str, Any]]:
    if samples is None:
        return [{} for _ in records]
    if len(samples) == len(records) and all(s.id == r.id for s, r in zip(samples, records, strict=True)):
        return [s.extra for s in samples]  # the usual case: the same order
    by_id = {s.id: s.extra for s in samples}
    missing = [r.id for r in records if r.id not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} records have no matching sample (first ids: {missing[:5]})")
    return [by_id[r.id] for r in records]
