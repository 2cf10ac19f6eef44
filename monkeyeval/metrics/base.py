"""The metric contract every plugin implements, and the error it raises for a missing optional dependency."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from monkeyeval.core.errors import UserError

PerSampleFn = Callable[..., float]
"""`(prediction: str, answers: list[str], **extra) -> float`; extra keyword args come from `extra_fields`."""

BatchFn = Callable[[Sequence[str], Sequence[Sequence[str]]], list[float]]
"""Optional fast path over many samples; must return exactly what `per_sample` returns, sample by sample."""

CorpusFn = Callable[[Sequence[str], Sequence[Sequence[str]]], tuple[float, list[float]]]
"""Corpus-level metrics (CIDEr): `(predictions, answers) -> (corpus score, per-sample scores)`."""

Aggregation = Literal["mean", "sum", "corpus"]


class MissingDependencyError(UserError, RuntimeError):
    """An optional dependency of a metric (e.g. Java or pycocoevalcap for CIDEr) is not installed; the
    message says how to install it or which metric to use instead."""


@dataclass(frozen=True)
class Metric:
    """A named metric variant.

    `version` changes whenever the definition changes (it is part of the score fingerprint: the gate refuses
    to compare scores across versions). `aggregation` is `mean` (score = mean of per-sample values, in
    [0, 1]), `sum` (OCRBench: count of hits) or `corpus` (CIDEr: `corpus` computes everything).
    `extra_fields` name `Sample.extra` keys passed to `per_sample` as keyword arguments (e.g. `options`).
    `source` says which upstream file/commit the definition follows.
    """

    name: str
    version: str
    description: str
    source: str
    aggregation: Aggregation = "mean"
    per_sample: PerSampleFn | None = None
    batch: BatchFn | None = None
    corpus: CorpusFn | None = None
    extra_fields: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def score_samples(
        self,
        predictions: Sequence[str],
        answers: Sequence[Sequence[str]],
        extras: Sequence[Mapping[str, Any]] | None = None,
    ) -> tuple[float, list[float]]:
        """Score a whole set: returns (aggregate score, per-sample scores)."""
        if len(predictions) != len(answers):
            raise ValueError(f"{self.name}: {len(predictions)} predictions but {len(answers)} answer lists")
        if self.aggregation == "corpus":
            if self.corpus is None:
                raise TypeError(f"corpus metric {self.name} has no corpus function")
            return self.corpus(predictions, answers)
        if self.batch is not None and not self.extra_fields:
            per = self.batch(predictions, answers)
        else:
            if self.per_sample is None:
                raise TypeError(f"metric {self.name} has no per-sample function")
            score = self.per_sample
            if not self.extra_fields:
                per = [float(score(p, list(a))) for p, a in zip(predictions, answers, strict=True)]
            else:
                extras = extras or [{} for _ in predictions]
                per = [
                    float(score(p, list(a), **{k: e.get(k) for k in self.extra_fields}))
                    for p, a, e in zip(predictions, answers, extras, strict=True)
                ]
        if not per:
            return float("nan"), []
        total = float(sum(per))
        return (total if self.aggregation == "sum" else total / len(per)), per
