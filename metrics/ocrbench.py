"""Built-in OCRBench metrics (implementations: monkeyeval.metrics.matching)."""

from __future__ import annotations

from monkeyeval.metrics import matching
from monkeyeval.metrics.base import Metric

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
        per_sample=matching.ocrbench,
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
        per_sample=matching.ocrbench_hme100k,
    ),
]
