"""Finalising a run: score its records, then write predictions.jsonl and scores.json atomically.

scores.json is written second and records the digest of the predictions.jsonl it scored, so a kill between
the two writes leaves a pair that `results.pair.pair_problem` detects (and a re-finalise repairs).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from monkeyeval.core.atomic import atomic_write_bytes, atomic_write_json, json_line, utf8
from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.metrics.registry import MetricRegistry
from monkeyeval.results.layout import PREDICTIONS_FILE, SCORES_FILE, task_fingerprint
from monkeyeval.results.schema import InputNotes, PredictionsDigest, ResultsError, TaskScore
from monkeyeval.results.scoring import score_records
from monkeyeval.tasks.config import TaskConfig


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
) -> TaskScore:
    """Score `records`, then write predictions.jsonl and scores.json atomically; returns the TaskScore.

    Records are sorted into dataset order (by `index`). `n_missing` of the errored records stand for missing
    predictions (see `score_records`). `model_fingerprint` goes under fingerprint["model"]. `inputs` (skipped
    dataset lines, --limit) and the task's group definitions are recorded beside the scores.
    """
    ordered = sorted(records, key=lambda r: r.index)
    repeated = sorted(index for index, count in Counter(r.index for r in ordered).items() if count > 1)
    if repeated:
        raise ResultsError(f"{run_dir}: several records share a dataset index (first: {repeated[:5]})")
    result = score_records(task, ordered, samples=samples, seed=seed, n_missing=n_missing, metrics=metrics)
    fingerprint = task_fingerprint(task, [r.prompt for r in ordered], metrics=metrics)
    fingerprint["model"] = dict(model_fingerprint)
    result.model = model_name
    result.fingerprint = fingerprint
    result.created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    result.inputs = inputs if inputs is not None else InputNotes()
    result.group_members = dict(task.group_members)
    data = utf8("".join(json_line(r.to_json()) for r in ordered))
    result.predictions = PredictionsDigest(hashlib.sha256(data).hexdigest(), len(ordered))
    folder = Path(run_dir)
    atomic_write_bytes(folder / PREDICTIONS_FILE, data)
    atomic_write_json(folder / SCORES_FILE, result.to_json())
    return result
