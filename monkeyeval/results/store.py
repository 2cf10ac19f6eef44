"""Results layout results/<model>/<task>/{predictions.jsonl, scores.json}, fingerprints, schema checks."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from monkeyeval.core.atomic import atomic_write_json, atomic_write_jsonl
from monkeyeval.tasks.dataset import jsonl_sha256
from monkeyeval.core.environment import software_versions
from monkeyeval.metrics.scoring import SCHEMA_VERSION, TaskScore, score_records
from monkeyeval.tasks.config import TaskConfig
from monkeyeval.core.types import PredictionRecord, Sample

PREDICTIONS_FILE = "predictions.jsonl"
SCORES_FILE = "scores.json"
SCORE_RELEVANT_FINGERPRINT_KEYS = ("jsonl_sha256", "metric", "metric_version", "prompt_sha256")
_REQUIRED_SCORES_KEYS: dict[str, type | tuple[type, ...]] = {
    "schema": int,
    "model": str,
    "task": str,
    "groups": list,
    "metric": str,
    "metrics": dict,
    "n": int,
    "n_scored": int,
    "n_errors": int,
    "n_empty": int,
    "n_truncated": int,
    "n_missing": int,
    "fingerprint": dict,
    "created": str,
}


class DamagedScoresError(ValueError):
    """A scores.json that cannot be trusted: unreadable, not JSON, wrong schema or missing keys."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: damaged scores file: {reason}")
        self.path = path
        self.reason = reason


_GENERIC_FOLDER_NAME = re.compile(
    r"(checkpoints?|ckpt|model|weights|hf|final|latest)([-_]\d+)?", re.IGNORECASE
)


def safe_model_name(checkpoint_or_name: str) -> str:
    """Folder name for a model: hub id "echo840/Monkey" -> "echo840__Monkey"; a local folder -> its name.

    A local folder with a generic name (`checkpoint`, `checkpoint-500`, `model`, ...) is prefixed with its
    parent's name (`runs/monkey-ft/checkpoint-500` -> "monkey-ft__checkpoint-500").
    """
    text = str(checkpoint_or_name).strip()
    path = Path(text).expanduser()
    if text.startswith((".", "/", "~")) or path.exists():
        resolved = path.resolve()
        text = resolved.name
        if _GENERIC_FOLDER_NAME.fullmatch(text) and resolved.parent.name:
            text = f"{resolved.parent.name}__{text}"
    else:
        text = text.strip("/").replace("/", "__")
    text = re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("._")
    if not text:
        raise ValueError(f"cannot make a results folder name from {checkpoint_or_name!r}; pass --model-name")
    return text


def run_dir(results_root: Path, model_name: str, task_name: str) -> Path:
    """results/<model>/<task>/ (names are made filesystem-safe)."""
    return Path(results_root) / safe_model_name(model_name) / safe_model_name(task_name)


def prompt_sha256(prompts: Sequence[str]) -> str:
    """SHA-256 over the rendered prompts of all samples in order, joined by newlines."""
    return hashlib.sha256("\n".join(prompts).encode("utf-8")).hexdigest()


def task_fingerprint(task: TaskConfig, prompts: Sequence[str], metrics: Any = None) -> dict[str, Any]:
    """Task-side fingerprint: YAML/jsonl/prompt hashes, primary metric and version, software versions."""
    if metrics is None:
        from monkeyeval.metrics.registry import load_metric_registry

        metrics = load_metric_registry()
    metric = metrics.get(task.primary_metric)
    jsonl = task.dataset.jsonl
    return {
        "task_yaml_sha256": task.yaml_sha256,
        "jsonl_sha256": jsonl_sha256(jsonl) if jsonl.is_file() else None,
        "prompt_sha256": prompt_sha256(prompts),
        "metric": metric.name,
        "metric_version": metric.version,
        **software_versions(),
    }


def finalize_run(
    run_dir: Path,
    task: TaskConfig,
    records: list[PredictionRecord],
    model_fingerprint: dict[str, Any],
    model_name: str,
    n_missing: int = 0,
    samples: list[Sample] | None = None,
    seed: int = 0,
    metrics: Any = None,
) -> TaskScore:
    """Score `records`, then write predictions.jsonl and scores.json atomically; returns the TaskScore.

    Records are sorted into dataset order (by `index`). `n_missing` of the errored records stand for missing
    predictions (see `score_records`). `model_fingerprint` goes under fingerprint["model"].
    """
    ordered = sorted(records, key=lambda r: r.index)
    repeated = sorted(index for index, count in Counter(r.index for r in ordered).items() if count > 1)
    if repeated:
        raise ValueError(f"{run_dir}: several records share a dataset index (first: {repeated[:5]})")
    result = score_records(task, ordered, samples=samples, seed=seed, n_missing=n_missing, metrics=metrics)
    fingerprint = task_fingerprint(task, [r.prompt for r in ordered], metrics=metrics)
    fingerprint["model"] = dict(model_fingerprint)
    result.model = model_name
    result.fingerprint = fingerprint
    result.created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    folder = Path(run_dir)
    atomic_write_jsonl(folder / PREDICTIONS_FILE, (r.to_json() for r in ordered))
    atomic_write_json(folder / SCORES_FILE, result.to_json())
    return result


def read_scores(path: Path) -> dict[str, Any]:
    """Read and validate a scores.json; DamagedScoresError (with path and reason) when it is not usable."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DamagedScoresError(path, "file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedScoresError(path, f"cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise DamagedScoresError(
            path, f"not valid JSON ({exc.msg}, line {exc.lineno}); re-run `monkeyeval score`"
        ) from None
    if not isinstance(data, dict):
        raise DamagedScoresError(path, f"expected a JSON object, got {type(data).__name__}")
    schema = data.get("schema")
    if schema != SCHEMA_VERSION:
        raise DamagedScoresError(
            path, f"unsupported schema {schema!r} (this monkeyeval reads schema {SCHEMA_VERSION})"
        )
    for key, expected in _REQUIRED_SCORES_KEYS.items():
        if key not in data:
            raise DamagedScoresError(path, f"missing key {key!r}")
        value = data[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise DamagedScoresError(path, f"key {key!r} has the wrong type ({type(value).__name__})")
    if data["metric"] not in data["metrics"]:
        raise DamagedScoresError(path, f"primary metric {data['metric']!r} is not in 'metrics'")
    score = data.get("score")
    if score is not None and (not isinstance(score, (int, float)) or isinstance(score, bool)):
        raise DamagedScoresError(path, f"key 'score' must be a number or null, got {score!r}")
    ci95 = data.get("ci95")
    if ci95 is not None and not (isinstance(ci95, list) and len(ci95) == 2):
        raise DamagedScoresError(path, f"key 'ci95' must be [low, high] or null, got {ci95!r}")
    return data
