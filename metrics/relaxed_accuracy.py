"""Built-in plugin: ChartQA relaxed accuracy (pix2struct `relaxed_correctness`), VLMEvalKit's stripped form
and the Qwen-VL swap."""

from __future__ import annotations

from monkeyeval.metrics.base import Metric
from monkeyeval.metrics.checks import require_answers

MAX_RELATIVE_CHANGE = 0.05


def parse_number(text: str) -> float | None:
    """pix2struct `_to_float`: a trailing "%" (all trailing "%" stripped) divides by 100; otherwise Python
    `float()` (accepts surrounding whitespace, "1e3", "1_000", "inf", "nan"); None when it does not parse."""
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correctness(target: str, prediction: str) -> bool:
    """True when both parse and the TARGET is truthy (non-zero; NaN counts as truthy) and
    `|p - t| / |t| <= 0.05`; otherwise case-insensitive string equality without stripping."""
    prediction_value = parse_number(prediction)
    target_value = parse_number(target)
    if prediction_value is not None and target_value:
        return abs(prediction_value - target_value) / abs(target_value) <= MAX_RELATIVE_CHANGE
    return prediction.lower() == target.lower()


def relaxed_accuracy_pix2struct(prediction: str, answers: list[str]) -> float:
    """Relaxed accuracy the right way round (target = gold, prediction unstripped), max over golds."""
    require_answers("relaxed_accuracy_pix2struct", answers)
    return float(max(relaxed_correctness(gold, prediction) for gold in answers))


def relaxed_accuracy_vlmevalkit(prediction: str, answers: list[str]) -> float:
    """VLMEvalKit ChartQA since its fix of 2025-09-01: `relaxed_correctness(gold, pred.strip())`, i.e.
    pix2struct's rule (gold as target) on the STRIPPED prediction (gold not stripped); max over golds."""
    require_answers("relaxed_accuracy_vlmevalkit", answers)
    prediction = prediction.strip()
    return float(max(relaxed_correctness(gold, prediction) for gold in answers))


def relaxed_accuracy_qwen(prediction: str, answers: list[str]) -> float:
    """Qwen-VL/Monkey `evaluate_relaxed_accuracy`: `relaxed_correctness(pred.strip(), gold)`, i.e. the
    stripped MODEL OUTPUT is the target: the 5% window and the zero test are relative to the prediction."""
    require_answers("relaxed_accuracy_qwen", answers)
    target = prediction.strip()
    return float(max(relaxed_correctness(target, gold) for gold in answers))


METRICS: list[Metric] = [
    Metric(
        name="relaxed_accuracy_pix2struct",
        version="1",
        description="ChartQA relaxed accuracy, 5% window relative to the gold. Alias: relaxed_accuracy.",
        source="google-research/pix2struct@945f27e pix2struct/metrics.py relaxed_correctness",
        per_sample=relaxed_accuracy_pix2struct,
        aliases=("relaxed_accuracy",),
    ),
    Metric(
        name="relaxed_accuracy_vlmevalkit",
        version="1",
        description=(
            "ChartQA relaxed accuracy as VLMEvalKit scores ChartQA_TEST: gold as target, the prediction "
            "stripped first (VLMEvalKit before 2025-09-01 swapped the two: that is relaxed_accuracy_qwen)."
        ),
        source=(
            "open-compass/VLMEvalKit@e8e78f0 vlmeval/dataset/utils/vqa_eval.py process_line "
            "(relaxed_accuracy; argument order fixed in 677e30a, PR #1204)"
        ),
        per_sample=relaxed_accuracy_vlmevalkit,
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
        per_sample=relaxed_accuracy_qwen,
    ),
]
