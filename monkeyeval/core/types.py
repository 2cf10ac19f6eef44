"""The data that crosses module boundaries: a sample going in, a generation and a prediction coming out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class Sample:
    """One evaluation item, as read from a task's jsonl (read-only by convention: a frozen dataclass costs
    0.8 s more per million samples to build).

    `index` is the position in dataset order (0-based, over the valid lines); `id` is the jsonl id
    field converted to `str` (ids are compared as strings everywhere). `image` is the image field exactly
    as written in the jsonl (upstream Monkey prompts embed it verbatim); `image_path` is that path resolved
    inside the dataset's image root, or None when it could not be resolved (then `error` says why).
    `extra` holds every other jsonl field (e.g. `options` for multiple choice, `type` for OCRBench).
    """

    index: int
    id: str
    question: str
    answers: list[str]
    image: str
    image_path: Path | None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Generation:
    """What a model adapter returns for one sample."""

    text: str
    n_new_tokens: int
    hit_max_new_tokens: bool
    error: str | None = None  # the sample was refused (e.g. its prompt is over the input limit)


MISSING_ERROR = "missing: no prediction was recorded for this sample (its shard or rank did not finish)"
"""The `error` of the record `merge` writes for a sample no rank predicted."""
MISSING_PREDICTION_ERROR = "missing prediction: the predictions file has no line for this id"
"""The `error` of the record `score` writes for a dataset id the predictions file lacks."""
MISSING_PREDICTION_ERRORS = frozenset({MISSING_ERROR, MISSING_PREDICTION_ERROR})
"""Errors of placeholder records: the sample has no prediction at all."""


@dataclass
class PredictionRecord:
    """One line of predictions.jsonl (and of the runner's per-rank part files).

    `prompt` is the exact final model input text (after the prompt profile); `score` is the primary metric's
    per-sample value and `scores` holds every metric of the task (None until scored, or for corpus metrics).
    """

    index: int
    id: str
    prompt: str
    prediction: str
    answers: list[str]
    error: str | None = None
    n_new_tokens: int | None = None
    truncated: bool = False
    score: float | None = None
    scores: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object written per line (stable key order)."""
        return {
            "index": self.index,
            "id": self.id,
            "prompt": self.prompt,
            "prediction": self.prediction,
            "answers": self.answers,
            "score": self.score,
            "scores": self.scores,
            "error": self.error,
            "n_new_tokens": self.n_new_tokens,
            "truncated": self.truncated,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PredictionRecord:
        """Inverse of `to_json`; tolerant of missing optional keys."""
        return cls(
            index=int(obj["index"]),
            id=str(obj["id"]),
            prompt=str(obj.get("prompt", "")),
            prediction=str(obj.get("prediction", "")),
            answers=[str(a) for a in obj.get("answers", [])],
            error=obj.get("error"),
            n_new_tokens=obj.get("n_new_tokens"),
            truncated=bool(obj.get("truncated", False)),
            score=obj.get("score"),
            scores=dict(obj.get("scores") or {}),
        )
