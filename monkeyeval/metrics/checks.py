"""Input checks shared by the metric plugins: gold answers present and strings, predictions aligned."""

from __future__ import annotations

from collections.abc import Sequence


def require_answers(metric: str, answers: Sequence[str]) -> None:
    """Raise a clear ValueError when a sample has no gold answers (upstream crashes on max()/min() of [])."""
    if len(answers) == 0:
        raise ValueError(
            f"{metric}: the sample has no gold answers (upstream crashes on an empty list); "
            "fix the dataset so every sample has at least one answer"
        )
    for answer in answers:
        if not isinstance(answer, str):
            raise TypeError(
                f"{metric}: gold answers must be strings, got {type(answer).__name__}: {answer!r}"
            )


def require_same_length(metric: str, predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> None:
    """Raise when predictions and answer lists are not aligned."""
    if len(predictions) != len(answers):
        raise ValueError(f"{metric}: {len(predictions)} predictions but {len(answers)} answer lists")
