"""The `replay` adapter: answers read from a predictions file by id (re-scoring and testing without a model).

`--ckpt` is a jsonl file with one object per line holding at least `id` and `prediction` (a monkeyeval
predictions.jsonl works as is). A sample whose id is absent, or whose recorded line has an `error`, is
recorded as an error again, so health counts carry over. Images are not opened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monkeyeval.core import jsontext
from monkeyeval.core.errors import UserError
from monkeyeval.core.types import Generation, Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelAdapter, ModelInput
from monkeyeval.models.options import reject_unknown
from monkeyeval.models.weights import hash_files


class ReplayError(UserError, RuntimeError):
    """A predictions file that cannot be replayed."""


@dataclass(frozen=True)
class ReplayedAnswer:
    """One recorded answer."""

    prediction: str
    n_new_tokens: int | None
    truncated: bool
    error: str | None


def read_answers(path: Path) -> dict[str, ReplayedAnswer]:
    """id -> recorded answer; malformed lines and duplicate ids are errors naming the line."""
    answers: dict[str, ReplayedAnswer] = {}
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = jsontext.loads(line)
            except json.JSONDecodeError as exc:
                raise ReplayError(
                    f"{path}:{line_no}: not valid JSON ({exc.msg}); fix or delete the line"
                ) from exc
            if not isinstance(row, dict) or "id" not in row:
                raise ReplayError(f"{path}:{line_no}: expected an object with 'id' and 'prediction'")
            key = str(row["id"])
            if key in answers:
                raise ReplayError(f"{path}:{line_no}: duplicate id {key!r}; keep one line per id")
            answers[key] = ReplayedAnswer(
                prediction=str(row.get("prediction") or ""),
                n_new_tokens=row.get("n_new_tokens"),
                truncated=bool(row.get("truncated", False)),
                error=row.get("error"),
            )
    return answers


@dataclass
class ReplayLookup:
    """Worker step: find the sample's recorded answer (raises when absent or recorded as an error)."""

    answers: dict[str, ReplayedAnswer]
    source: str

    def __call__(self, sample: Sample, prompt: str) -> ReplayedAnswer:
        answer = self.answers.get(sample.id)
        if answer is None:
            raise ReplayError(f"id {sample.id!r} is not in {self.source}")
        if answer.error:
            raise ReplayError(f"recorded error: {answer.error}")
        return answer


class ReplayAdapter(ModelAdapter):
    """Replays the predictions of a jsonl file."""

    family = "replay"
    default_prompt_profile = ""
    runs_a_model = False

    def __init__(self, path: Path, options: LoadOptions) -> None:
        self.path = path
        self.options = options
        self.answers = read_answers(path)

    @classmethod
    def load(cls, options: LoadOptions) -> ReplayAdapter:
        """`options.checkpoint` is the predictions file."""
        reject_unknown(cls.family, options.family_options, ())
        path = Path(options.checkpoint).expanduser()
        if not path.is_file():
            raise ReplayError(f"{options.checkpoint}: the replay adapter needs a predictions jsonl file")
        return cls(path.resolve(), options)

    @classmethod
    def dry_run_preprocessor(cls, options: LoadOptions) -> Callable[[Sample, str], Any] | None:
        """Checks that every id has an answer."""
        return cls.load(options).preprocessor()

    def preprocessor(self) -> Callable[[Sample, str], Any]:
        """Looks the answer up (no image decoding)."""
        return ReplayLookup(self.answers, str(self.path))

    def generate(self, batch: Sequence[ModelInput], settings: DecodeSettings) -> list[Generation]:
        """The recorded answers, in order."""
        generations = []
        for item in batch:
            answer: ReplayedAnswer = item.payload
            n_new = answer.n_new_tokens if answer.n_new_tokens is not None else 0
            generations.append(Generation(answer.prediction, int(n_new), answer.truncated))
        return generations

    def fingerprint(self) -> dict[str, Any]:
        """family, the predictions file and its sha256."""
        return {
            "family": self.family,
            "checkpoint": str(self.path),
            "checkpoint_sha256": hash_files([self.path]),
            "dtype": "none",
            "family_options": dict(self.options.family_options),
        }
