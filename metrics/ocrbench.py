"""Built-in plugin: OCRBench hits (substring tests after OCRBench's normalisation; aggregation: sum).
See docs/metric-definitions.md "Exact / substring matching" and facts §5.7."""

from __future__ import annotations

from monkeyeval.metrics.base import Metric
from monkeyeval.metrics.checks import require_answers


def ocrbench_normalize(text: str) -> str:
    """OCRBench normalisation: `text.lower().strip().replace("\\n", " ")` (internal whitespace kept)."""
    return text.lower().strip().replace("\n", " ")


def hme100k_normalize(text: str) -> str:
    """OCRBench HME100k normalisation: strip, newline -> space, delete every ASCII space (case, tabs kept)."""
    return text.strip().replace("\n", " ").replace(" ", "")


HME100K_DATASET = "HME100k"


def ocrbench(prediction: str, answers: list[str], dataset_name: str | None = None) -> float:
    """1 if any normalised gold is a substring of the normalised prediction (aggregation: sum of hits).

    Like upstream's scoring loop, items whose `dataset_name` is "HME100k" use the HME100k rule instead."""
    if dataset_name == HME100K_DATASET:
        return ocrbench_hme100k(prediction, answers)
    require_answers("ocrbench", answers)
    pred = ocrbench_normalize(prediction)
    return float(any(ocrbench_normalize(gold) in pred for gold in answers))


def ocrbench_hme100k(prediction: str, answers: list[str]) -> float:
    """HME100k rule: no lowercasing, all ASCII spaces removed, then a substring test."""
    require_answers("ocrbench_hme100k", answers)
    pred = hme100k_normalize(prediction)
    return float(any(hme100k_normalize(gold) in pred for gold in answers))


METRICS: list[Metric] = [
    Metric(
        name="ocrbench",
        version="1",
        description=(
            "OCRBench hit: lower/strip/newline-normalised gold is a substring of the prediction; items with "
            "dataset_name HME100k use the HME100k rule (as upstream). Aggregation: sum of hits."
        ),
        source="Yuliang-Liu/MultimodalOCR@794c36d OCRBench/scripts/monkey.py (scoring loop)",
        aggregation="sum",
        per_sample=ocrbench,
        extra_fields=("dataset_name",),
    ),
    Metric(
        name="ocrbench_hme100k",
        version="1",
        description=(
            "OCRBench HME100k hit: strip, newline -> space, ASCII spaces deleted, case kept; substring."
        ),
        source="Yuliang-Liu/MultimodalOCR@794c36d OCRBench/scripts/monkey.py (HME100k branch)",
        aggregation="sum",
        per_sample=ocrbench_hme100k,
    ),
]
