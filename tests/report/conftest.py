"""Builders of results trees (scores.json + predictions.jsonl, schema 1) for the report and gate tests.

Tests use the fixtures (`results_root`, `make_run`, `run_writer`); `tests/gate/conftest.py` loads this file by
path and re-exports them, so keep it free of report-only imports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

JSONL_SHA = "a" * 64
PROMPT_SHA = "b" * 64


def scores_payload(
    model: str,
    task: str,
    score: float,
    *,
    metric: str = "anls_monkey",
    aggregation: str = "mean",
    metric_version: str = "1",
    n: int = 100,
    groups: Sequence[str] = (),
    ci95: tuple[float, float] | None = None,
    n_errors: int = 0,
    n_empty: int = 0,
    n_truncated: int = 0,
    n_missing: int = 0,
    jsonl_sha256: str = JSONL_SHA,
    prompt_sha256: str = PROMPT_SHA,
    created: str = "2026-11-21T12:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    """A schema-1 scores.json object as `monkeyeval score` writes it; `extra` adds or replaces top keys."""
    payload = {
        "schema": 1,
        "model": model,
        "task": task,
        "groups": list(groups),
        "metric": metric,
        "score": score,
        "ci95": list(ci95) if ci95 else None,
        "metrics": {
            metric: {
                "score": score,
                "ci95": list(ci95) if ci95 else None,
                "aggregation": aggregation,
                "version": metric_version,
            }
        },
        "n": n,
        "n_scored": n - n_errors,
        "n_errors": n_errors,
        "n_empty": n_empty,
        "n_truncated": n_truncated,
        "n_missing": n_missing,
        "fingerprint": {
            "task_yaml_sha256": "c" * 64,
            "jsonl_sha256": jsonl_sha256,
            "prompt_sha256": prompt_sha256,
            "metric": metric,
            "metric_version": metric_version,
            "monkeyeval_version": "0.1.0",
            "git_commit": None,
            "python": "3.11.7",
            "torch": "2.13.0",
            "transformers": "5.23.0",
            "model": {"family": "monkey", "checkpoint": f"/ckpt/{model}", "dtype": "bfloat16"},
        },
        "created": created,
    }
    return payload | extra


def write_run(
    root: Path,
    model: str,
    task: str,
    score: float | None = None,
    *,
    samples: Mapping[str, tuple[float, str]] | None = None,
    folder: str | None = None,
    **fields: Any,
) -> Path:
    """Write `root/<folder or model/task>/scores.json` (+ predictions.jsonl when `samples` maps id ->
    (score, prediction)). Without `score`, the score is the mean (or sum) of the sample scores."""
    run_dir = root / (folder or f"{model}/{task}")
    run_dir.mkdir(parents=True, exist_ok=True)
    if samples is not None:
        values = [value for value, _ in samples.values()]
        if score is None:
            total = sum(values)
            score = total if fields.get("aggregation") == "sum" else total / len(values)
        fields.setdefault("n", len(samples))
        rows: list[dict[str, Any]] = [
            {
                "index": index,
                "id": sample_id,
                "prompt": f"question {sample_id}",
                "prediction": prediction,
                "answers": ["gold"],
                "score": value,
                "scores": {},
                "error": None,
                "n_new_tokens": 3,
                "truncated": False,
            }
            for index, (sample_id, (value, prediction)) in enumerate(samples.items())
        ]
        text = "".join(json.dumps(row) + "\n" for row in rows)
        (run_dir / "predictions.jsonl").write_text(text, encoding="utf-8")
    assert score is not None, "give a score or samples"
    payload = scores_payload(model, task, score, **fields)
    (run_dir / "scores.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return run_dir


@pytest.fixture
def results_root(tmp_path: Path) -> Path:
    """An empty results folder."""
    root = tmp_path / "results"
    root.mkdir()
    return root


@pytest.fixture
def make_run(results_root: Path) -> Callable[..., Path]:
    """`make_run(model, task, score=None, samples=None, **fields)` writes one run under results_root."""

    def _make(model: str, task: str, score: float | None = None, **kwargs: Any) -> Path:
        return write_run(results_root, model, task, score, **kwargs)

    return _make


@pytest.fixture
def run_writer() -> Callable[..., Path]:
    """The `write_run(root, model, task, score=None, samples=None, folder=None, **scores_fields)` function."""
    return write_run
