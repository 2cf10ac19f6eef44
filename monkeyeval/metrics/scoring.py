"""Scoring a task's prediction records: per-sample scores, aggregates, bootstrap CIs and health counts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.tasks.config import BreakdownSpec, TaskConfig

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
    `breakdown` (tasks with a `breakdown` spec): the primary metric per category, see `category_breakdown`.
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
    breakdown: dict[str, dict[str, Any]] | None = None

    @property
    def score(self) -> float:
        """The primary metric's score."""
        return self.metrics[self.metric].score

    @property
    def ci95(self) -> tuple[float, float] | None:
        """The primary metric's 95% bootstrap interval."""
        return self.metrics[self.metric].ci95

    def to_json(self) -> dict[str, Any]:
        """The scores.json object (schema 1; "breakdown" only for tasks that ask for one)."""
        primary = self.metrics[self.metric].to_json()
        out = {
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
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown
        return out


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
    `monkeyeval.metrics.stats.bootstrap_ci` with `seed`; corpus metrics get no CI. `metrics` defaults to the
    metric registry.
    """
    if metrics is None:
        from monkeyeval.metrics.registry import load_metric_registry

        metrics = load_metric_registry()
    from monkeyeval.metrics.stats import bootstrap_ci

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
        breakdown=breakdown,
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
        return {"score": _finite_or_none(_aggregate(scores, aggregation)), "n": len(scores)}

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
    by_id = {s.id: s.extra for s in samples}
    missing = [r.id for r in records if r.id not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} records have no matching sample (first ids: {missing[:5]})")
    return [by_id[r.id] for r in records]
