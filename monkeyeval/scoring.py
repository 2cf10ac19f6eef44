"""Scoring a task's prediction records: per-sample scores, aggregates, bootstrap CIs and health counts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monkeyeval.task_config import TaskConfig
from monkeyeval.types import PredictionRecord, Sample

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MetricScore:
    """One metric's result on a task."""

    name: str
    score: float
    ci95: tuple[float, float] | None
    aggregation: str
    version: str

    def to_json(self) -> dict[str, Any]:
        return {
            "score": _finite_or_none(self.score),
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "aggregation": self.aggregation,
            "version": self.version,
        }


@dataclass
class TaskScore:
    """Everything scores.json holds for one (model, task). `to_json()` gives the schema-1 dict.

    Health counts: `n` records; `n_errors` records with an error that are not missing predictions (scored 0);
    `n_missing` records standing in for missing predictions (scored 0); `n_scored` = n - n_errors - n_missing;
    `n_empty` scored records with a blank prediction; `n_truncated` records that hit max_new_tokens.
    """

    task: str
    groups: list[str]
    metric: str
    metrics: dict[str, MetricScore]
    n: int
    n_scored: int
    n_errors: int
    n_empty: int
    n_truncated: int
    n_missing: int = 0
    model: str = ""
    fingerprint: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    @property
    def score(self) -> float:
        """The primary metric's score."""
        return self.metrics[self.metric].score

    @property
    def ci95(self) -> tuple[float, float] | None:
        """The primary metric's 95% bootstrap interval."""
        return self.metrics[self.metric].ci95

    def to_json(self) -> dict[str, Any]:
        """The scores.json object (schema 1)."""
        primary = self.metrics[self.metric].to_json()
        return {
            "schema": SCHEMA_VERSION,
            "model": self.model,
            "task": self.task,
            "groups": list(self.groups),
            "metric": self.metric,
            "score": primary["score"],
            "ci95": primary["ci95"],
            "metrics": {name: m.to_json() for name, m in self.metrics.items()},
            "n": self.n,
            "n_scored": self.n_scored,
            "n_errors": self.n_errors,
            "n_empty": self.n_empty,
            "n_truncated": self.n_truncated,
            "n_missing": self.n_missing,
            "fingerprint": self.fingerprint,
            "created": self.created,
        }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def score_records(
    task: TaskConfig,
    records: list[PredictionRecord],
    samples: list[Sample] | None = None,
    seed: int = 0,
    n_missing: int = 0,
    metrics: Any = None,
) -> TaskScore:
    """Score `records` (dataset order) with every metric of `task`; fills `record.score`/`.scores` in place.

    Records with an error score 0 on every metric. `n_missing` says how many of the errored records are
    placeholders for missing predictions (reported as n_missing instead of n_errors). `samples` (same order,
    matched by id) supply the `extra` fields some metrics need (e.g. OCRBench's `type`). CIs come from
    `monkeyeval.stats.bootstrap_ci` with `seed`; corpus metrics get no CI. `metrics` defaults to the metric
    registry.
    """
    if metrics is None:
        from monkeyeval.metrics.registry import load_metric_registry

        metrics = load_metric_registry()
    from monkeyeval.stats import bootstrap_ci

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
    n_errors = n_errored - n_missing
    return TaskScore(
        task=task.name,
        groups=list(task.groups),
        metric=primary,
        metrics=results,
        n=len(records),
        n_scored=len(records) - n_errored,
        n_errors=n_errors,
        n_empty=sum(
            1 for r, bad in zip(records, errored, strict=True) if not bad and not r.prediction.strip()
        ),
        n_truncated=sum(1 for r in records if r.truncated),
        n_missing=n_missing,
    )


def _aggregate(per_sample: Sequence[float], aggregation: str) -> float:
    if not per_sample:
        return float("nan")
    total = float(sum(per_sample))
    return total if aggregation == "sum" else total / len(per_sample)


def _extras_for(records: list[PredictionRecord], samples: list[Sample] | None) -> list[dict[str, Any]]:
    if samples is None:
        return [{} for _ in records]
    by_id = {s.id: s.extra for s in samples}
    missing = [r.id for r in records if r.id not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} records have no matching sample (first ids: {missing[:5]})")
    return [by_id[r.id] for r in records]
