"""`run --predict-only` results: predictions.jsonl plus predict_only.json, never a scores.json.

A predict-only run generates for every sample, answers or not (a test split whose answers only an official
server holds), and writes no score. predict_only.json (schema 1) holds `schema, predict_only: true, model,
task, metric` (the task's primary metric, what a later `monkeyeval score` would compute), the health counts
`n, n_errors, n_empty, n_truncated, n_missing`, `n_without_answers` (samples the dataset gives no answer),
`n_skipped_lines, limit, predictions{sha256, count}, fingerprint, created`. Like scores.json it is written
after predictions.jsonl and records its digest. A later scored merge of the same folder replaces it by a
scores.json (and a predict-only merge removes a stale scores.json): each is derived from predictions.jsonl,
so nothing is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monkeyeval.core import jsontext
from monkeyeval.results.schema import PredictionsDigest, ResultsError, RunFiles

PREDICT_ONLY_FILE = "predict_only.json"
PREDICT_ONLY_SCHEMA = 1
_COUNTS = ("n", "n_errors", "n_empty", "n_truncated", "n_missing", "n_without_answers", "n_skipped_lines")


@dataclass(frozen=True)
class PredictOnlyRun(RunFiles):
    """One predict-only (model, task) run: what was generated, and its health; no score."""

    path: Path
    model: str
    task: str
    metric: str
    n: int
    n_errors: int
    n_empty: int
    n_truncated: int
    n_missing: int
    n_without_answers: int
    n_skipped_lines: int
    limit: int | None
    predictions: PredictionsDigest
    fingerprint: dict[str, Any]
    created: str

    def to_json(self) -> dict[str, Any]:
        """The predict_only.json object."""
        return {
            "schema": PREDICT_ONLY_SCHEMA,
            "predict_only": True,
            "model": self.model,
            "task": self.task,
            "metric": self.metric,
            **{key: getattr(self, key) for key in _COUNTS},
            "limit": self.limit,
            "predictions": self.predictions.to_json(),
            "fingerprint": self.fingerprint,
            "created": self.created,
        }


def read_predict_only_file(path: Path) -> PredictOnlyRun:
    """Read and validate one predict_only.json; `ResultsError` names the file and the problem."""
    path = Path(path)
    try:
        obj = jsontext.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: cannot read a predict-only summary ({err})", path) from None
    if not isinstance(obj, dict) or obj.get("schema") != PREDICT_ONLY_SCHEMA or not obj.get("predict_only"):
        raise ResultsError(f"{path}: not a predict_only.json of schema {PREDICT_ONLY_SCHEMA}", path)
    texts = {key: obj.get(key) for key in ("model", "task", "metric", "created")}
    counts = {key: obj.get(key, 0) for key in _COUNTS}
    digest, limit = obj.get("predictions"), obj.get("limit")
    bad = [key for key, value in texts.items() if not isinstance(value, str)]
    bad += [key for key, value in counts.items() if isinstance(value, bool) or not isinstance(value, int)]
    if not isinstance(digest, dict) or not isinstance(digest.get("sha256"), str):
        bad.append("predictions")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        bad.append("limit")
    if not isinstance(obj.get("fingerprint"), dict):
        bad.append("fingerprint")
    if bad:
        raise ResultsError(f"{path}: invalid key(s) {', '.join(bad)}; re-run `monkeyeval merge` here", path)
    assert isinstance(digest, dict)
    return PredictOnlyRun(
        path=path,
        **texts,  # type: ignore[arg-type]
        **counts,
        limit=limit,
        predictions=PredictionsDigest(digest["sha256"], int(digest.get("count", 0))),
        fingerprint=dict(obj["fingerprint"]),
    )
