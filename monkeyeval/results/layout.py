"""Where results live: results/<model>/<task>/{predictions.jsonl, scores.json}, and the task fingerprint."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monkeyeval.core.atomic import utf8
from monkeyeval.core.environment import software_versions
from monkeyeval.metrics.registry import MetricRegistry, load_metric_registry
from monkeyeval.results.schema import ResultsError
from monkeyeval.tasks.config import TaskConfig
from monkeyeval.tasks.dataset import jsonl_sha256
from monkeyeval.tasks.readers import dataset_exists

PREDICTIONS_FILE = "predictions.jsonl"
SCORES_FILE = "scores.json"

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
        raise ResultsError(
            f"cannot make a results folder name from {checkpoint_or_name!r}; pass --model-name"
        )
    return text


def run_dir(results_root: Path, model_name: str, task_name: str) -> Path:
    """results/<model>/<task>/ (names are made filesystem-safe)."""
    return Path(results_root) / safe_model_name(model_name) / safe_model_name(task_name)


def prompt_sha256(prompts: Sequence[str]) -> str:
    """SHA-256 over the rendered prompts of all samples in order, joined by newlines."""
    return hashlib.sha256(utf8("\n".join(prompts))).hexdigest()


def task_fingerprint(
    task: TaskConfig, prompts: Sequence[str], metrics: MetricRegistry | None = None
) -> dict[str, Any]:
    """Task-side fingerprint: YAML/jsonl/prompt hashes, primary metric and version, software versions."""
    metric = (metrics or load_metric_registry()).get(task.primary_metric)
    jsonl = task.dataset.jsonl
    return {
        "task_yaml_sha256": task.yaml_sha256,
        "jsonl_sha256": jsonl_sha256(jsonl) if dataset_exists(jsonl) else None,  # a file or parquet shards
        "prompt_sha256": prompt_sha256(prompts),
        "metric": metric.name,
        "metric_version": metric.version,
        **software_versions(),
    }
