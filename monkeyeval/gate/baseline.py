"""The gate's baseline file: what a results tree looked like when it was approved.

Format (JSON, UTF-8; written atomically by `monkeyeval gate RESULTS --write-baseline FILE`; see also
`results/baselines/README.md`)::

    {
      "format": "monkeyeval-baseline",
      "schema": 1,
      "created": "2026-11-21T12:00:00Z",
      "monkeyeval_version": "0.1.0",
      "entries": [
        {
          "model": "Monkey", "task": "docvqa_val",
          "metric": "anls_monkey", "metric_version": "1", "aggregation": "mean",
          "score": 0.61,            # primary score, native scale (mean: fraction, sum: count, corpus: native)
          "n": 1000,
          "n_errors": 2, "n_empty": 3, "n_truncated": 5, "n_missing": 0,
          "n_skipped_lines": 0,     # dataset lines that were not valid samples (absent in older files: 0)
          "tolerance": 0.01,        # absolute, normalised scale (see below); null -> the gate's --tolerance
          "fingerprint": {"jsonl_sha256": "...", "metric": "anls_monkey", "metric_version": "1",
                          "prompt_sha256": "..."},
          "sample_scores": {"<id>": 1.0, ...},     # per-sample primary scores by id, or null
          "predictions": {"<id>": "text", ...},    # per-sample predictions by id, or null
          "throughput": {                          # the run's speed, or null (untimed run; older files)
            "samples_per_s": 12.5, "generated_tokens_per_s": 180.0,
            "device": "NVIDIA H100 80GB HBM3", "device_count": 8,   # a list of names when ranks differ
            "settings": {"family": "monkey", "family_options": {}, "dtype": "bfloat16",
                         "batch_size": 8, "world_size": 8, "max_new_tokens": 128}
          }
        }
      ]
    }

One entry per (model, task). `sample_scores`/`predictions` let the paired test and the flip listing work
without the old results tree; they are null when the run had no readable predictions.jsonl. `throughput`
(absent in older files: null) is what `gate --max-slowdown` compares (`monkeyeval.gate.speed`).

Normalised scale: tolerances and drops are compared on the primary score for `mean` and `corpus` metrics
and on `score / n` for `sum` metrics (OCRBench), so `0.01` is one point of a score printed ×100 (for
OCRBench out of 1000 samples: 10 hits).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeGuard

from monkeyeval import __version__
from monkeyeval.core import jsontext
from monkeyeval.core.atomic import atomic_write_json
from monkeyeval.core.errors import UserError
from monkeyeval.gate.speed import SpeedRecord, speed_record
from monkeyeval.results.schema import AGGREGATIONS, SCORE_RELEVANT_FIELDS, ResultsError, RunResult
from monkeyeval.results.tree import ResultsTree, load_sample_scores

BASELINE_FORMAT = "monkeyeval-baseline"
BASELINE_SCHEMA = 1
HEALTH_KEYS = ("n_errors", "n_empty", "n_truncated", "n_missing", "n_skipped_lines")


class BaselineError(UserError, ValueError):
    """The baseline file is missing or invalid; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class BaselineEntry:
    """The approved state of one (model, task)."""

    model: str
    task: str
    metric: str
    metric_version: str
    aggregation: str
    score: float
    n: int
    n_errors: int
    n_empty: int
    n_truncated: int
    n_missing: int
    fingerprint: dict[str, Any]
    n_skipped_lines: int = 0
    tolerance: float | None = None
    sample_scores: dict[str, float] | None = None
    predictions: dict[str, str] | None = None
    throughput: SpeedRecord | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in the file."""
        return {
            "model": self.model,
            "task": self.task,
            "metric": self.metric,
            "metric_version": self.metric_version,
            "aggregation": self.aggregation,
            "score": self.score,
            "n": self.n,
            "n_errors": self.n_errors,
            "n_empty": self.n_empty,
            "n_truncated": self.n_truncated,
            "n_missing": self.n_missing,
            "n_skipped_lines": self.n_skipped_lines,
            "tolerance": self.tolerance,
            "fingerprint": self.fingerprint,
            "sample_scores": self.sample_scores,
            "predictions": self.predictions,
            "throughput": self.throughput.to_json() if self.throughput is not None else None,
        }


@dataclass(frozen=True)
class Baseline:
    """A whole baseline file."""

    entries: tuple[BaselineEntry, ...]
    created: str = ""
    monkeyeval_version: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON document stored in the file."""
        return {
            "format": BASELINE_FORMAT,
            "schema": BASELINE_SCHEMA,
            "created": self.created,
            "monkeyeval_version": self.monkeyeval_version,
            "entries": [entry.to_json() for entry in self.entries],
        }


def entry_from_run(run: RunResult, tolerance: float | None = None) -> tuple[BaselineEntry, str | None]:
    """A baseline entry for `run` (per-sample data read from its predictions.jsonl); returns the entry and a
    warning when the per-sample data could not be read (the entry then has no samples)."""
    warning = None
    sample_scores = predictions = None
    try:
        samples = load_sample_scores(run.predictions_path)
    except ResultsError as err:
        warning = (
            f"{run.model}/{run.task}: no per-sample data stored (paired mode and flips unavailable): {err}"
        )
    else:
        predictions = samples.predictions
        # corpus metrics (CIDEr) have no per-sample scores: store the predictions only
        sample_scores = None if run.aggregation == "corpus" else samples.scores
        if samples.unscored_ids and run.aggregation != "corpus":
            warning = (
                f"{run.model}/{run.task}: {len(samples.unscored_ids)} unscored samples left out of the "
                f"baseline (first: {samples.unscored_ids[0]!r})"
            )
    entry = BaselineEntry(
        model=run.model,
        task=run.task,
        metric=run.metric,
        metric_version=run.metric_version,
        aggregation=run.aggregation,
        score=run.score,
        n=run.n,
        n_errors=run.n_errors,
        n_empty=run.n_empty,
        n_truncated=run.n_truncated,
        n_missing=run.n_missing,
        n_skipped_lines=run.n_skipped_lines,
        fingerprint=run.score_relevant_fingerprint(),
        tolerance=tolerance,
        sample_scores=sample_scores,
        predictions=predictions,
        throughput=speed_record(run),
    )
    return entry, warning


def baseline_from_tree(tree: ResultsTree, tolerance: float | None = None) -> tuple[Baseline, list[str]]:
    """A baseline of every run in `tree`, plus warnings (runs stored without per-sample data)."""
    entries, warnings = [], []
    for run in tree.runs:
        entry, warning = entry_from_run(run, tolerance)
        entries.append(entry)
        if warning:
            warnings.append(warning)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Baseline(tuple(entries), created=created, monkeyeval_version=__version__), warnings


def write_baseline(path: Path, baseline: Baseline) -> None:
    """Write the baseline file atomically."""
    atomic_write_json(Path(path), baseline.to_json())


def load_baseline(path: Path) -> Baseline:
    """Read and validate a baseline file; raises `BaselineError` naming the file and entry."""
    path = Path(path)
    if not path.is_file():
        raise BaselineError(
            f"{path}: baseline file not found; create one with "
            f"`monkeyeval gate RESULTS --write-baseline {path}`"
        )
    try:
        obj = jsontext.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise BaselineError(f"{path}: cannot read baseline ({err})") from err
    except json.JSONDecodeError as err:
        raise BaselineError(
            f"{path}: invalid JSON at line {err.lineno} column {err.colno} ({err.msg})"
        ) from err
    if not isinstance(obj, dict) or obj.get("format") != BASELINE_FORMAT:
        raise BaselineError(f'{path}: not a monkeyeval baseline (expected "format": "{BASELINE_FORMAT}")')
    if obj.get("schema") != BASELINE_SCHEMA:
        raise BaselineError(
            f"{path}: unsupported baseline schema {obj.get('schema')!r} "
            f"(this monkeyeval reads {BASELINE_SCHEMA})"
        )
    raw_entries = obj.get("entries")
    if not isinstance(raw_entries, list):
        raise BaselineError(f"{path}: 'entries' must be a list")
    entries = []
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(raw_entries):
        entry = _parse_entry(raw, f"{path}: entries[{index}]")
        key = (entry.model, entry.task)
        if key in seen:
            raise BaselineError(
                f"{path}: entries[{index}]: duplicate entry for model {key[0]!r} task {key[1]!r}"
            )
        seen.add(key)
        entries.append(entry)
    return Baseline(
        tuple(entries),
        created=str(obj.get("created", "")),
        monkeyeval_version=str(obj.get("monkeyeval_version", "")),
    )


def _parse_entry(raw: Any, where: str) -> BaselineEntry:
    if not isinstance(raw, dict):
        raise BaselineError(f"{where}: must be an object")

    def text(key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise BaselineError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
        return value

    def number(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BaselineError(f"{where}: {key!r} must be a finite number, got {value!r}")
        return float(value)

    def count(key: str, default: int | None = None) -> int:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BaselineError(f"{where}: {key!r} must be a non-negative integer, got {value!r}")
        return value

    aggregation = text("aggregation")
    if aggregation not in AGGREGATIONS:
        raise BaselineError(f"{where}: 'aggregation' must be one of {AGGREGATIONS}, got {aggregation!r}")
    tolerance = raw.get("tolerance")
    if tolerance is not None and number("tolerance", tolerance) < 0:
        raise BaselineError(f"{where}: 'tolerance' must be >= 0, got {tolerance!r}")
    fingerprint = raw.get("fingerprint")
    if not isinstance(fingerprint, dict) or set(fingerprint) != set(SCORE_RELEVANT_FIELDS):
        raise BaselineError(
            f"{where}: 'fingerprint' must be an object with exactly {list(SCORE_RELEVANT_FIELDS)}"
        )
    sample_scores = raw.get("sample_scores")
    if sample_scores is not None:
        if not isinstance(sample_scores, dict):
            raise BaselineError(f"{where}: 'sample_scores' must be an object of id -> score, or null")
        sample_scores = {str(k): number(f"sample_scores[{k!r}]", v) for k, v in sample_scores.items()}
    predictions = raw.get("predictions")
    if predictions is not None:
        if not isinstance(predictions, dict) or not all(isinstance(v, str) for v in predictions.values()):
            raise BaselineError(f"{where}: 'predictions' must be an object of id -> text, or null")
        predictions = {str(k): v for k, v in predictions.items()}
    return BaselineEntry(
        model=text("model"),
        task=text("task"),
        metric=text("metric"),
        metric_version=text("metric_version"),
        aggregation=aggregation,
        score=number("score", raw.get("score")),
        n=count("n"),
        n_errors=count("n_errors"),
        n_empty=count("n_empty"),
        n_truncated=count("n_truncated"),
        n_missing=count("n_missing"),
        n_skipped_lines=count("n_skipped_lines", default=0),
        fingerprint=dict(fingerprint),
        tolerance=None if tolerance is None else float(tolerance),
        sample_scores=sample_scores,
        predictions=predictions,
        throughput=_parse_speed(raw.get("throughput"), where),
    )


def _parse_speed(raw: Any, where: str) -> SpeedRecord | None:
    """An entry's `throughput` (absent or null: None)."""
    if raw is None:
        return None
    label = f"{where}: 'throughput'"
    if not isinstance(raw, dict):
        raise BaselineError(f"{label} must be an object or null")
    rates = [raw.get("samples_per_s"), raw.get("generated_tokens_per_s")]
    if not _is_rate(rates[0]) or not (rates[1] is None or _is_rate(rates[1])):
        raise BaselineError(f"{label}: 'samples_per_s' (and 'generated_tokens_per_s') must be numbers >= 0")
    device, count, settings = raw.get("device"), raw.get("device_count"), raw.get("settings")
    if isinstance(device, list) and device and all(isinstance(name, str) for name in device):
        device = tuple(device)
    elif not isinstance(device, str) or not device:
        raise BaselineError(f"{label}: 'device' must be a device name or a list of them")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise BaselineError(f"{label}: 'device_count' must be an integer >= 1, got {count!r}")
    if not isinstance(settings, dict):
        raise BaselineError(f"{label}: 'settings' must be an object of fingerprint field -> value")
    return SpeedRecord(
        samples_per_s=float(rates[0]),
        generated_tokens_per_s=None if rates[1] is None else float(rates[1]),
        device=device,
        device_count=count,
        settings=dict(settings),
    )


def _is_rate(value: Any) -> TypeGuard[float]:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
