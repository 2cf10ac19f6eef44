"""The scores.json schema: one writer (`TaskScore.to_json`), one reader (`results.reader.read_scores_file`).

A scores.json (schema 1) holds `schema, model, task, groups, metric, score, ci95, metrics{name: {score, ci95,
aggregation, version}}, n, n_scored, n_errors, n_empty, n_truncated, n_missing, fingerprint, created` and,
for tasks that declare one, `breakdown{category: {score, n, members?}}`. Written since the keys were added
(optional for the reader, so older files stay valid): `n_skipped_lines` and `skipped_lines` (dataset lines
that were not valid samples: their count, and the first `MAX_LISTED_LINES` 1-based line numbers), `limit`
(the `--limit` the run used, null for a whole dataset), `group_members` (each of the task's groups with every
member task of its definition), `predictions{sha256, count}` (the predictions.jsonl this file scored), and
`throughput` (how fast the run predicted, see `RunThroughput`; null when unknown) with `throughput_note`
(why it is null, or what it leaves out; else null). The reader validates every key and raises `ResultsError`
naming the file and the problem; it never returns a half-valid run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monkeyeval.core.errors import UserError

SCHEMA_VERSION = 1
AGGREGATIONS = ("mean", "sum", "corpus")
COUNT_KEYS = ("n", "n_scored", "n_errors", "n_empty", "n_truncated", "n_missing")
SCORE_RELEVANT_FIELDS = ("jsonl_sha256", "metric", "metric_version", "prompt_sha256")
"""Fingerprint fields that change what a score means; the gate refuses to compare across them."""
MAX_LISTED_LINES = 1000
"""How many skipped dataset line numbers scores.json lists (the count is always exact)."""


class ResultsError(UserError, ValueError):
    """A results file that is unreadable or invalid; the message names the file (and line) and the fix."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class MetricScore:
    """One metric's aggregate on a task (`score` None or NaN: not computable, written as null)."""

    name: str
    score: float | None
    ci95: tuple[float, float] | None
    aggregation: str
    version: str

    def to_json(self) -> dict[str, Any]:
        """`{"score", "ci95", "aggregation", "version"}`."""
        return {
            "score": finite_or_none(self.score),
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "aggregation": self.aggregation,
            "version": self.version,
        }


@dataclass(frozen=True)
class CategoryScore:
    """One entry of a run's per-category breakdown; a super-category lists its `members`."""

    name: str
    score: float | None
    n: int
    members: tuple[CategoryScore, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """`{"category", "score", "n", "members": [...]}` (the leaderboard's JSON form)."""
        return {
            "category": self.name,
            "score": self.score,
            "n": self.n,
            "members": [member.to_json() for member in self.members],
        }


@dataclass(frozen=True)
class InputNotes:
    """What a run left out of its dataset: the 1-based numbers of lines that were not valid samples, and the
    `--limit` it ran with (None: the whole dataset)."""

    skipped_lines: tuple[int, ...] = ()
    limit: int | None = None


@dataclass(frozen=True)
class PredictionsDigest:
    """The predictions.jsonl a scores.json scored: SHA-256 of its bytes and its number of records."""

    sha256: str
    count: int

    def to_json(self) -> dict[str, Any]:
        """`{"sha256", "count"}`."""
        return {"sha256": self.sha256, "count": self.count}


@dataclass(frozen=True)
class RunThroughput:
    """How fast a run predicted: scores.json's `throughput` (units in the key names; timing never enters
    predictions.jsonl, so predictions stay byte-identical however fast they were made).

    Summed over the `attempts` that produced the final records (`unmetered_attempts` more produced some of
    them without a reading: interrupted, or written by an older monkeyeval; their samples and time are left
    out). `samples` = records predicted (per-sample errors included), `generated_tokens` = their
    `n_new_tokens`, `prefill_tokens` = prompt tokens of the samples that reached the model (None: the adapter
    does not say), `wall_s` = per attempt the latest finish minus the earliest start over its ranks (model
    loading and the merge excluded), summed over attempts; `samples_per_s` and `generated_tokens_per_s` =
    the totals over `wall_s` (None when `wall_s` is 0). Peak memories are the largest over ranks (device:
    CUDA's max allocated, None elsewhere; host: the rank process's max RSS). `device` is the device name
    (a sorted tuple when ranks differ), `device_count` the most ranks an attempt ran on.
    """

    samples: int
    wall_s: float
    samples_per_s: float | None
    generated_tokens: int
    generated_tokens_per_s: float | None
    prefill_tokens: int | None
    peak_device_memory_bytes: int | None
    peak_host_rss_bytes: int | None
    device: str | tuple[str, ...]
    device_count: int
    attempts: int
    unmetered_attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        """The scores.json `throughput` object (`device` a string, or a list when ranks differ)."""
        return {
            "samples": self.samples,
            "wall_s": self.wall_s,
            "samples_per_s": self.samples_per_s,
            "generated_tokens": self.generated_tokens,
            "generated_tokens_per_s": self.generated_tokens_per_s,
            "prefill_tokens": self.prefill_tokens,
            "peak_device_memory_bytes": self.peak_device_memory_bytes,
            "peak_host_rss_bytes": self.peak_host_rss_bytes,
            "device": self.device if isinstance(self.device, str) else list(self.device),
            "device_count": self.device_count,
            "attempts": self.attempts,
            "unmetered_attempts": self.unmetered_attempts,
        }


@dataclass
class TaskScore:
    """Everything scores.json holds for one (model, task), as the scorer builds it; `to_json()` writes it.

    Health counts: `n` records; `n_errors` records with an error that are not missing predictions (scored 0);
    `n_missing` records standing in for missing predictions (scored 0); `n_scored` = n - n_errors - n_missing;
    `n_empty` scored records with a blank prediction; `n_truncated` records that hit max_new_tokens.
    `breakdown` (tasks with a `breakdown` spec): the primary metric per category. `throughput`: how fast
    the records were predicted (None with `throughput_note` saying why, e.g. a rescored predictions file).
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
    inputs: InputNotes = field(default_factory=InputNotes)
    group_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    predictions: PredictionsDigest | None = None
    throughput: RunThroughput | None = None
    throughput_note: str = ""

    @property
    def score(self) -> float | None:
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
            "n_skipped_lines": len(self.inputs.skipped_lines),
            "skipped_lines": list(self.inputs.skipped_lines[:MAX_LISTED_LINES]),
            "limit": self.inputs.limit,
            "group_members": {group: list(names) for group, names in self.group_members.items()},
            "predictions": self.predictions.to_json() if self.predictions is not None else None,
            "throughput": self.throughput.to_json() if self.throughput is not None else None,
            "throughput_note": self.throughput_note or None,
            "fingerprint": self.fingerprint,
            "created": self.created,
        }
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown
        return out


class RunFiles:
    """The folder and predictions file of a run summary stored at `path` (scores.json, predict_only.json)."""

    path: Path

    @property
    def run_dir(self) -> Path:
        """The folder that holds this run's files."""
        return self.path.parent

    @property
    def predictions_path(self) -> Path:
        """Where this run's per-sample records live."""
        return self.run_dir / "predictions.jsonl"


@dataclass(frozen=True)
class RunResult(RunFiles):
    """One validated scores.json, as read back."""

    path: Path
    model: str
    task: str
    groups: tuple[str, ...]
    metric: str
    score: float
    ci95: tuple[float, float] | None
    aggregation: str
    metric_version: str
    metrics: Mapping[str, MetricScore]
    n: int
    n_scored: int
    n_errors: int
    n_empty: int
    n_truncated: int
    n_missing: int
    fingerprint: Mapping[str, Any]
    created: str
    breakdown: tuple[CategoryScore, ...] = ()
    n_skipped_lines: int = 0
    skipped_lines: tuple[int, ...] = ()
    limit: int | None = None
    group_members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    predictions: PredictionsDigest | None = None
    throughput: RunThroughput | None = None
    throughput_note: str = ""

    @property
    def is_fraction(self) -> bool:
        """True when the primary metric is a mean of per-sample values in [0, 1]."""
        return self.aggregation == "mean"

    def score_relevant_fingerprint(self) -> dict[str, Any]:
        """The fingerprint fields the gate compares (metric name/version fall back to the top-level keys)."""
        fallback = {"metric": self.metric, "metric_version": self.metric_version}
        return {key: self.fingerprint.get(key, fallback.get(key)) for key in SCORE_RELEVANT_FIELDS}


def finite_or_none(value: float | None) -> float | None:
    """`value`, or None where it is None, NaN or infinite (JSON has no NaN)."""
    return value if value is not None and math.isfinite(value) else None
