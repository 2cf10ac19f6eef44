"""Built-in ChartQA relaxed-accuracy metric variants (implementations: monkeyeval.metrics.relaxed)."""

from __future__ import annotations

from monkeyeval.metrics import relaxed
from monkeyeval.metrics.base import Metric

METRICS: list[Metric] = [
    Metric(
        name="relaxed_accuracy_pix2struct",
        version="1",
        description="ChartQA relaxed accuracy, 5% window relative to the gold. Alias: relaxed_accuracy.",
        source="google-research/pix2struct@945f27e pix2struct/metrics.py relaxed_correctness",
        per_sample=relaxed.relaxed_accuracy_pix2struct,
        aliases=("relaxed_accuracy",),
    ),
    Metric(
        name="relaxed_accuracy_qwen",
        version="1",
        description=(
            "ChartQA relaxed accuracy as Qwen-VL/Monkey call it: relaxed_correctness(pred.strip(), gold), "
            "so the window and the zero test are relative to the PREDICTION."
        ),
        source=(
            "Yuliang-Liu/Monkey@498e1d9 eval/evaluate_vqa.py evaluate_relaxed_accuracy (= Qwen-VL aa00ed0)"
        ),
        per_sample=relaxed.relaxed_accuracy_qwen,
    ),
]
