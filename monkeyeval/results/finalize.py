"""Finalising a run: score its records, then write predictions.jsonl and scores.json atomically.

scores.json is written second and records the digest of the predictions.jsonl it scored, so a kill between
the two writes leaves a pair that `results.pair.pair_problem` detects (and a re-finalise repairs).

Throughput (how fast the records were predicted) goes into scores.json only, never into predictions.jsonl,
so the digest and the predictions stay the same whatever the timing. A caller without timing (`monkeyeval
score` rescoring a predictions file) writes `"throughput": null` with `UNTIMED_NOTE`: nothing is carried
over from an earlier scores.json, whose timing belonged to other predictions or another run.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

from monkeyeval.core.atomic import atomic_write_bytes, atomic_write_json, json_line, remove_file, utf8
from monkeyeval.core.gcpause import collection_paused
from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.metrics.registry import MetricRegistry
from monkeyeval.results.layout import PREDICTIONS_FILE, SCORES_FILE, task_fingerprint
from monkeyeval.results.predict_only import PREDICT_ONLY_FILE, PredictOnlyRun
from monkeyeval.results.schema import InputNotes, PredictionsDigest, ResultsError, RunThroughput, TaskScore
from monkeyeval.results.scoring import health_counts, score_records
from monkeyeval.tasks.config import TaskConfig

UNTIMED_NOTE = "not timed: scored from a predictions file (`monkeyeval score`), not predicted by this run"


@collection_paused()
def finalize_run(
    run_dir: Path,
    task: TaskConfig,
    records: list[PredictionRecord],
    model_fingerprint: dict[str, Any],
    model_name: str,
    n_missing: int = 0,
    samples: list[Sample] | None = None,
    seed: int = 0,
    metrics: MetricRegistry | None = None,
    inputs: InputNotes | None = None,
    throughput: RunThroughput | None = None,
    throughput_note: str | None = None,
) -> TaskScore:
    """Score `records`, then write predictions.jsonl and scores.json atomically; returns the TaskScore.

    Records are sorted into dataset order (by `index`). `n_missing` of the errored records stand for missing
    predictions (see `score_records`). `model_fingerprint` goes under fingerprint["model"]. `inputs` (skipped
    dataset lines, --limit) and the task's group definitions are recorded beside the scores, and so is
    `throughput` with `throughput_note` (why it is None, or what it leaves out; default: `UNTIMED_NOTE` when
    there is no throughput).
    """
    ordered = _in_dataset_order(run_dir, records)
    result = score_records(task, ordered, samples=samples, seed=seed, n_missing=n_missing, metrics=metrics)
    result.model = model_name
    result.fingerprint = _fingerprint(task, ordered, model_fingerprint, metrics)
    result.created = _now()
    result.inputs = inputs if inputs is not None else InputNotes()
    result.group_members = dict(task.group_members)
    result.throughput = throughput
    if throughput_note is None:
        throughput_note = "" if throughput is not None else UNTIMED_NOTE
    result.throughput_note = throughput_note
    folder = Path(run_dir)
    result.predictions = _write_predictions(folder, ordered)
    atomic_write_json(folder / SCORES_FILE, result.to_json())
    remove_file(folder / PREDICT_ONLY_FILE)  # a scored run supersedes an earlier predict-only summary
    return result


def finalize_predict_only(
    run_dir: Path,
    task: TaskConfig,
    records: list[PredictionRecord],
    model_fingerprint: dict[str, Any],
    model_name: str,
    n_missing: int = 0,
    inputs: InputNotes | None = None,
) -> PredictOnlyRun:
    """`run --predict-only`: write predictions.jsonl (unscored) and predict_only.json atomically."""
    ordered = _in_dataset_order(run_dir, records)
    inputs = inputs if inputs is not None else InputNotes()
    folder = Path(run_dir)
    digest = _write_predictions(folder, ordered)
    health = health_counts(ordered, n_missing)
    run = PredictOnlyRun(
        path=folder / PREDICT_ONLY_FILE,
        model=model_name,
        task=task.name,
        metric=task.primary_metric,
        n=len(ordered),
        n_errors=health.n_errors,
        n_empty=health.n_empty,
        n_truncated=health.n_truncated,
        n_missing=health.n_missing,
        n_without_answers=sum(1 for r in ordered if not r.answers),
        n_skipped_lines=len(inputs.skipped_lines),
        limit=inputs.limit,
        predictions=digest,
        fingerprint=_fingerprint(task, ordered, model_fingerprint, None),
        created=_now(),
    )
    atomic_write_json(run.path, run.to_json())
    remove_file(folder / SCORES_FILE)  # a stale score of these predictions must not stay beside them
    return run


def _in_dataset_order(run_dir: Path, records: list[PredictionRecord]) -> list[PredictionRecord]:
    ordered = sorted(records, key=lambda r: r.index)
    if any(a.index == b.index for a, b in pairwise(ordered)):
        repeated = sorted(index for index, count in Counter(r.index for r in ordered).items() if count > 1)
        raise ResultsError(f"{run_dir}: several records share a dataset index (first: {repeated[:5]})")
    return ordered


def _fingerprint(
    task: TaskConfig,
    ordered: list[PredictionRecord],
    model_fingerprint: dict[str, Any],
    metrics: MetricRegistry | None,
) -> dict[str, Any]:
    fingerprint = task_fingerprint(task, [r.prompt for r in ordered], metrics=metrics)
    fingerprint["model"] = dict(model_fingerprint)
    return fingerprint


def _write_predictions(folder: Path, ordered: list[PredictionRecord]) -> PredictionsDigest:
    data = utf8("".join(json_line(r.to_json()) for r in ordered))
    atomic_write_bytes(folder / PREDICTIONS_FILE, data)
    return PredictionsDigest(hashlib.sha256(data).hexdigest(), len(ordered))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
