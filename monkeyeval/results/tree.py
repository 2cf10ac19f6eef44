"""Discover and load finished runs (`scores.json` + `predictions.jsonl`) under a results folder.

A run is any folder, at any depth, that holds a `scores.json` (schema 1, see the shared results layout). The
model and task names come from the file's content, never from the path. Loading is tolerant: a damaged or
invalid `scores.json` (bad JSON, wrong schema, missing keys, NaN where a number is required, ...) becomes a
`LoadProblem` (path + reason) and is skipped; it never aborts the whole load. When two files claim the same
(model, task), the one with the newest `created` stamp wins and the other is reported as a problem.

Per-sample scores (for the gate's paired test and flip listing) are read from the run's `predictions.jsonl`
on demand with `load_sample_scores`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCORES_FILE = "scores.json"
PREDICTIONS_FILE = "predictions.jsonl"
SUPPORTED_SCHEMA = 1
AGGREGATIONS = ("mean", "sum", "corpus")
COUNT_KEYS = ("n", "n_scored", "n_errors", "n_empty", "n_truncated", "n_missing")
SCORE_RELEVANT_FIELDS = ("jsonl_sha256", "metric", "metric_version", "prompt_sha256")
"""Fingerprint fields that change what a score means; the gate refuses to compare across them."""


class ResultsError(ValueError):
    """A results file is unreadable or invalid; the message names the file (and line) and the fix."""


@dataclass(frozen=True)
class LoadProblem:
    """A file that was skipped, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class MetricScore:
    """One metric's aggregate in a run (`score` is None when the writer could not compute it)."""

    score: float | None
    ci95: tuple[float, float] | None
    aggregation: str
    version: str


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
class RunResult:
    """One validated `scores.json`."""

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

    @property
    def run_dir(self) -> Path:
        """The folder that holds this run's files."""
        return self.path.parent

    @property
    def predictions_path(self) -> Path:
        """Where this run's per-sample records live."""
        return self.run_dir / PREDICTIONS_FILE

    @property
    def is_fraction(self) -> bool:
        """True when the primary metric is a mean of per-sample values in [0, 1]."""
        return self.aggregation == "mean"

    def score_relevant_fingerprint(self) -> dict[str, Any]:
        """The fingerprint fields the gate compares (metric name/version fall back to the top-level keys)."""
        fallback = {"metric": self.metric, "metric_version": self.metric_version}
        return {key: self.fingerprint.get(key, fallback.get(key)) for key in SCORE_RELEVANT_FIELDS}


@dataclass
class ResultsTree:
    """Every valid run found under a root, plus the files that were skipped."""

    root: Path
    runs: list[RunResult] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)

    def get(self, model: str, task: str) -> RunResult | None:
        """The run for (model, task), or None."""
        for run in self.runs:
            if run.model == model and run.task == task:
                return run
        return None

    def __iter__(self) -> Iterator[RunResult]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)


@dataclass(frozen=True)
class SampleScores:
    """Per-sample primary scores and predictions of one run, keyed by sample id (string)."""

    scores: dict[str, float]
    predictions: dict[str, str]
    unscored_ids: tuple[str, ...] = ()


def discover_scores_files(root: Path) -> list[Path]:
    """Every `scores.json` under `root` (any depth), sorted; hidden folders are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise ResultsError(f"{root}: results folder not found (pass the folder that holds <model>/<task>/)")
    found = []
    for path in root.rglob(SCORES_FILE):
        relative = path.relative_to(root).parts
        if any(part.startswith(".") for part in relative[:-1]):
            continue
        if path.is_file():
            found.append(path)
    return sorted(found)


def load_results(root: Path) -> ResultsTree:
    """Load every run under `root`; invalid files land in `problems` instead of raising."""
    root = Path(root)
    tree = ResultsTree(root=root)
    by_key: dict[tuple[str, str], RunResult] = {}
    for path in discover_scores_files(root):
        try:
            run = load_run(path)
        except ResultsError as err:
            tree.problems.append(LoadProblem(path, str(err).removeprefix(f"{path}: ")))
            continue
        key = (run.model, run.task)
        previous = by_key.get(key)
        if previous is None:
            by_key[key] = run
            continue
        newer, older = (run, previous) if run.created > previous.created else (previous, run)
        by_key[key] = newer
        tree.problems.append(
            LoadProblem(
                older.path,
                f"duplicate run for model {run.model!r} task {run.task!r}: {newer.path} is newer "
                "(by 'created') and is used; delete or move the stale folder",
            )
        )
    tree.runs = sorted(by_key.values(), key=lambda r: (r.model, r.task))
    return tree


def load_run(path: Path) -> RunResult:
    """Read and validate one `scores.json`; raises `ResultsError` naming the file and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: cannot read file ({err})") from err
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise ResultsError(
            f"{path}: invalid JSON at line {err.lineno} column {err.colno} ({err.msg}); re-run "
            "`monkeyeval score` for this run to rewrite it"
        ) from err
    return parse_scores(obj, path)


def parse_scores(obj: Any, path: Path) -> RunResult:
    """Validate a decoded `scores.json` object (schema 1)."""
    if not isinstance(obj, dict):
        raise ResultsError(f"{path}: top level must be a JSON object, got {type(obj).__name__}")
    schema = obj.get("schema")
    if schema != SUPPORTED_SCHEMA:
        raise ResultsError(
            f"{path}: unsupported schema {schema!r} (this monkeyeval reads schema {SUPPORTED_SCHEMA}); "
            "upgrade monkeyeval or re-score the run"
        )
    model = _require_str(obj, "model", path)
    task = _require_str(obj, "task", path)
    metric = _require_str(obj, "metric", path)
    score = _require_number(obj.get("score"), "score", path)
    groups_raw = obj.get("groups", [])
    if not isinstance(groups_raw, list) or not all(isinstance(g, str) for g in groups_raw):
        raise ResultsError(f"{path}: 'groups' must be a list of strings")
    counts = {key: _require_count(obj, key, path) for key in COUNT_KEYS}
    metrics = _parse_metrics(obj.get("metrics"), path)
    if metric not in metrics:
        raise ResultsError(f"{path}: primary metric {metric!r} is missing from 'metrics'")
    primary = metrics[metric]
    fingerprint = obj.get("fingerprint", {})
    if not isinstance(fingerprint, dict):
        raise ResultsError(f"{path}: 'fingerprint' must be an object")
    created = obj.get("created", "")
    return RunResult(
        path=path,
        model=model,
        task=task,
        groups=tuple(groups_raw),
        metric=metric,
        score=score,
        ci95=_parse_ci(obj.get("ci95"), "ci95", path),
        aggregation=primary.aggregation,
        metric_version=primary.version,
        metrics=metrics,
        fingerprint=fingerprint,
        created=created if isinstance(created, str) else "",
        breakdown=_parse_breakdown(obj.get("breakdown"), "breakdown", path),
        **counts,
    )


def load_sample_scores(predictions_path: Path) -> SampleScores:
    """Per-sample primary scores and predictions from a `predictions.jsonl`, keyed by id.

    A sample with an error and no score counts as 0 (the scoring rule for errors); a sample with neither is
    listed in `unscored_ids` and left out of `scores`. A torn last line (killed writer) is ignored; any other
    bad line raises `ResultsError` with its line number. Duplicate ids are an error.
    """
    path = Path(predictions_path)
    if not path.is_file():
        raise ResultsError(f"{path}: predictions file not found (per-sample scores are needed for this step)")
    scores: dict[str, float] = {}
    predictions: dict[str, str] = {}
    unscored: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                break  # torn write from a killed process
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ResultsError(f"{path}:{line_no}: invalid JSON ({err.msg}); re-score this run") from err
            if not isinstance(row, dict) or "id" not in row:
                raise ResultsError(f"{path}:{line_no}: each line must be an object with an 'id'")
            sample_id = str(row["id"])
            if sample_id in predictions:
                raise ResultsError(f"{path}:{line_no}: duplicate id {sample_id!r}")
            predictions[sample_id] = str(row.get("prediction", ""))
            value = row.get("score")
            if value is None:
                if row.get("error"):
                    scores[sample_id] = 0.0
                else:
                    unscored.append(sample_id)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ResultsError(f"{path}:{line_no}: 'score' must be a finite number, got {value!r}")
            scores[sample_id] = float(value)
    return SampleScores(scores=scores, predictions=predictions, unscored_ids=tuple(unscored))


def _require_str(obj: dict[str, Any], key: str, path: Path) -> str:
    if key not in obj:
        raise ResultsError(f"{path}: missing key {key!r}")
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise ResultsError(f"{path}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _require_number(value: Any, label: str, path: Path) -> float:
    if value is None:
        raise ResultsError(f"{path}: missing or null number {label!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsError(f"{path}: {label!r} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ResultsError(f"{path}: {label!r} is {value!r}; a finite number is required")
    return float(value)


def _require_count(obj: dict[str, Any], key: str, path: Path) -> int:
    if key not in obj:
        raise ResultsError(f"{path}: missing key {key!r}")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ResultsError(f"{path}: {key!r} must be a non-negative integer, got {value!r}")
    return value


def _parse_ci(value: Any, label: str, path: Path) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise ResultsError(f"{path}: {label!r} must be [low, high] or null, got {value!r}")
    low = _require_number(value[0], f"{label}[0]", path)
    high = _require_number(value[1], f"{label}[1]", path)
    return (low, high)


def _parse_breakdown(value: Any, label: str, path: Path) -> tuple[CategoryScore, ...]:
    """`{"<category>": {"score", "n", "members"?: {...}}}` -> CategoryScores (absent or null: none)."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ResultsError(f"{path}: {label!r} must be an object of category -> {{score, n}}")
    parsed = []
    for name, entry in value.items():
        where = f"{label}.{name}"
        if not isinstance(entry, dict):
            raise ResultsError(f"{path}: {where!r} must be an object with 'score' and 'n'")
        raw_score = entry.get("score")
        n = entry.get("n")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ResultsError(f"{path}: {where}.n must be a non-negative integer, got {n!r}")
        parsed.append(
            CategoryScore(
                name=str(name),
                score=None if raw_score is None else _require_number(raw_score, f"{where}.score", path),
                n=n,
                members=_parse_breakdown(entry.get("members"), f"{where}.members", path),
            )
        )
    return tuple(parsed)


def _parse_metrics(value: Any, path: Path) -> dict[str, MetricScore]:
    if not isinstance(value, dict) or not value:
        raise ResultsError(f"{path}: 'metrics' must be a non-empty object of metric name -> result")
    parsed: dict[str, MetricScore] = {}
    for name, entry in value.items():
        label = f"metrics.{name}"
        if not isinstance(entry, dict):
            raise ResultsError(f"{path}: {label!r} must be an object")
        aggregation = entry.get("aggregation")
        if aggregation not in AGGREGATIONS:
            raise ResultsError(
                f"{path}: {label}.aggregation must be one of {AGGREGATIONS}, got {aggregation!r}"
            )
        version = entry.get("version")
        if not isinstance(version, (str, int)) or isinstance(version, bool):
            raise ResultsError(f"{path}: {label}.version must be a string, got {version!r}")
        raw_score = entry.get("score")  # null: not computable (e.g. no samples); only the primary needs one
        parsed[name] = MetricScore(
            score=None if raw_score is None else _require_number(raw_score, f"{label}.score", path),
            ci95=_parse_ci(entry.get("ci95"), f"{label}.ci95", path),
            aggregation=str(aggregation),
            version=str(version),
        )
    return parsed
