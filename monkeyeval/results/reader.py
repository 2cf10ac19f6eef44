"""The scores.json reader: `read_scores_file` validates every key (see `results.schema` for the format) and
raises `ResultsError` naming the file and the problem; it never returns a half-valid run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeGuard

from monkeyeval.core import jsontext
from monkeyeval.results.schema import (
    AGGREGATIONS,
    COUNT_KEYS,
    SCHEMA_VERSION,
    CategoryScore,
    MetricScore,
    PredictionsDigest,
    ResultsError,
    RunResult,
    RunThroughput,
)


def read_scores_file(path: Path) -> RunResult:
    """Read and validate one scores.json; raises `ResultsError` naming the file and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: file does not exist", path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: cannot read file ({err})", path) from None
    try:
        obj = jsontext.loads(text)
    except json.JSONDecodeError as err:
        raise ResultsError(
            f"{path}: invalid JSON at line {err.lineno} column {err.colno} ({err.msg}); re-run "
            "`monkeyeval score` for this run to rewrite it",
            path,
        ) from None
    return parse_scores(obj, path)


def parse_scores(obj: Any, path: Path) -> RunResult:
    """Validate a decoded scores.json object (schema 1)."""
    if not isinstance(obj, dict):
        raise ResultsError(f"{path}: top level must be a JSON object, got {type(obj).__name__}", path)
    schema = obj.get("schema")
    if schema != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: unsupported schema {schema!r} (this monkeyeval reads schema {SCHEMA_VERSION}); "
            "upgrade monkeyeval or re-score the run",
            path,
        )
    model = _require_str(obj, "model", path)
    task = _require_str(obj, "task", path)
    metric = _require_str(obj, "metric", path)
    score = _require_number(obj.get("score"), "score", path)
    groups_raw = obj.get("groups", [])
    if not isinstance(groups_raw, list) or not all(isinstance(g, str) for g in groups_raw):
        raise ResultsError(f"{path}: 'groups' must be a list of strings", path)
    counts = {key: _require_count(obj, key, path) for key in COUNT_KEYS}
    metrics = _parse_metrics(obj.get("metrics"), path)
    if metric not in metrics:
        raise ResultsError(f"{path}: primary metric {metric!r} is missing from 'metrics'", path)
    primary = metrics[metric]
    fingerprint = obj.get("fingerprint", {})
    if not isinstance(fingerprint, dict):
        raise ResultsError(f"{path}: 'fingerprint' must be an object", path)
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
        n_skipped_lines=_require_count(obj, "n_skipped_lines", path) if "n_skipped_lines" in obj else 0,
        skipped_lines=_parse_line_numbers(obj.get("skipped_lines"), path),
        limit=_parse_limit(obj.get("limit"), path),
        group_members=_parse_group_members(obj.get("group_members"), path),
        predictions=_parse_digest(obj.get("predictions"), path),
        throughput=parse_throughput(obj.get("throughput"), path),
        throughput_note=_parse_note(obj.get("throughput_note"), path),
        **counts,
    )


def parse_throughput(value: Any, path: Path) -> RunThroughput | None:
    """scores.json's `throughput` (absent or null: None, as in files written before it was recorded)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ResultsError(f"{path}: 'throughput' must be an object or null, got {value!r}", path)

    def optional_count(key: str, default: int | None = None) -> int | None:
        raw = value.get(key, default)
        if raw is not None and not _is_count(raw):
            raise ResultsError(
                f"{path}: 'throughput.{key}' must be a non-negative integer or null, got {raw!r}", path
            )
        return raw

    def count(key: str, default: int | None = None) -> int:
        raw = optional_count(key, default)
        if raw is None:
            raise ResultsError(f"{path}: 'throughput.{key}' is missing (a non-negative integer)", path)
        return raw

    def amount(key: str) -> float | None:
        raw = value.get(key)
        number = None if raw is None else _require_number(raw, f"throughput.{key}", path)
        if number is not None and number < 0:
            raise ResultsError(f"{path}: 'throughput.{key}' must be >= 0, got {raw!r}", path)
        return number

    device = value.get("device")
    if isinstance(device, list) and device and all(isinstance(name, str) for name in device):
        device = tuple(device)
    elif not isinstance(device, str) or not device:
        raise ResultsError(f"{path}: 'throughput.device' must be a device name or a list of them", path)
    wall_s = amount("wall_s")
    if wall_s is None:
        raise ResultsError(f"{path}: 'throughput.wall_s' is missing (seconds, a number >= 0)", path)
    return RunThroughput(
        samples=count("samples"),
        wall_s=wall_s,
        samples_per_s=amount("samples_per_s"),
        generated_tokens=count("generated_tokens"),
        generated_tokens_per_s=amount("generated_tokens_per_s"),
        prefill_tokens=optional_count("prefill_tokens"),
        peak_device_memory_bytes=optional_count("peak_device_memory_bytes"),
        peak_host_rss_bytes=optional_count("peak_host_rss_bytes"),
        device=device,
        device_count=count("device_count"),
        attempts=count("attempts"),
        unmetered_attempts=count("unmetered_attempts", default=0),
    )


def _parse_note(value: Any, path: Path) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ResultsError(f"{path}: 'throughput_note' must be a string or null, got {value!r}", path)
    return value


def _parse_line_numbers(value: Any, path: Path) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(_is_count(v) and v > 0 for v in value):
        raise ResultsError(f"{path}: 'skipped_lines' must be a list of line numbers (integers >= 1)", path)
    return tuple(value)


def _parse_limit(value: Any, path: Path) -> int | None:
    if value is None:
        return None
    if not _is_count(value) or value < 1:
        raise ResultsError(f"{path}: 'limit' must be null or an integer >= 1, got {value!r}", path)
    return int(value)


def _parse_group_members(value: Any, path: Path) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(names, list) and all(isinstance(name, str) for name in names) for names in value.values()
    ):
        raise ResultsError(f"{path}: 'group_members' must map each group to a list of task names", path)
    return {str(group): tuple(names) for group, names in value.items()}


def _parse_digest(value: Any, path: Path) -> PredictionsDigest | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("sha256"), str)
        or not _is_count(value.get("count"))
    ):
        raise ResultsError(f'{path}: \'predictions\' must be {{"sha256": hex, "count": n}} or null', path)
    return PredictionsDigest(value["sha256"], int(value["count"]))


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _require_str(obj: dict[str, Any], key: str, path: Path) -> str:
    if key not in obj:
        raise ResultsError(f"{path}: missing key {key!r}", path)
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise ResultsError(f"{path}: {key!r} must be a non-empty string, got {value!r}", path)
    return value


def _require_number(value: Any, label: str, path: Path) -> float:
    if value is None:
        raise ResultsError(f"{path}: missing or null number {label!r}", path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsError(f"{path}: {label!r} must be a number, got {value!r}", path)
    if not math.isfinite(value):
        raise ResultsError(f"{path}: {label!r} is {value!r}; a finite number is required", path)
    return float(value)


def _require_count(obj: dict[str, Any], key: str, path: Path) -> int:
    if key not in obj:
        raise ResultsError(f"{path}: missing key {key!r}", path)
    value = obj[key]
    if not _is_count(value):
        raise ResultsError(f"{path}: {key!r} must be a non-negative integer, got {value!r}", path)
    return value


def _parse_ci(value: Any, label: str, path: Path) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise ResultsError(f"{path}: {label!r} must be [low, high] or null, got {value!r}", path)
    return (_require_number(value[0], f"{label}[0]", path), _require_number(value[1], f"{label}[1]", path))


def _parse_breakdown(value: Any, label: str, path: Path) -> tuple[CategoryScore, ...]:
    """`{"<category>": {"score", "n", "members"?: {...}}}` -> CategoryScores (absent or null: none)."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ResultsError(f"{path}: {label!r} must be an object of category -> {{score, n}}", path)
    parsed = []
    for name, entry in value.items():
        where = f"{label}.{name}"
        if not isinstance(entry, dict):
            raise ResultsError(f"{path}: {where!r} must be an object with 'score' and 'n'", path)
        raw_score = entry.get("score")
        n = entry.get("n")
        if not _is_count(n):
            raise ResultsError(f"{path}: {where}.n must be a non-negative integer, got {n!r}", path)
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
        raise ResultsError(f"{path}: 'metrics' must be a non-empty object of metric name -> result", path)
    parsed: dict[str, MetricScore] = {}
    for name, entry in value.items():
        label = f"metrics.{name}"
        if not isinstance(entry, dict):
            raise ResultsError(f"{path}: {label!r} must be an object", path)
        aggregation = entry.get("aggregation")
        if aggregation not in AGGREGATIONS:
            raise ResultsError(
                f"{path}: {label}.aggregation must be one of {AGGREGATIONS}, got {aggregation!r}", path
            )
        version = entry.get("version")
        if not isinstance(version, (str, int)) or isinstance(version, bool):
            raise ResultsError(f"{path}: {label}.version must be a string, got {version!r}", path)
        raw_score = entry.get("score")  # null: not computable (e.g. no samples); only the primary needs one
        parsed[name] = MetricScore(
            name=str(name),
            score=None if raw_score is None else _require_number(raw_score, f"{label}.score", path),
            ci95=_parse_ci(entry.get("ci95"), f"{label}.ci95", path),
            aggregation=str(aggregation),
            version=str(version),
        )
    return parsed
