"""Built-in VQA soft-accuracy metric variants (implementations: monkeyeval.metrics.vqa)."""

from __future__ import annotations

from monkeyeval.metrics import vqa
from monkeyeval.metrics.base import Metric

METRICS: list[Metric] = [
    Metric(
        name="vqa_accuracy_official",
        version="1",
        description=(
            "VQA soft accuracy as GT-Vision-Lab vqaEval.py: normalisation only when the golds are not all "
            "identical; leave-one-out by position. Alias: vqa_score."
        ),
        source="GT-Vision-Lab/VQA@a013f00 PythonEvaluationTools/vqaEvaluation/vqaEval.py",
        per_sample=vqa.vqa_accuracy_official,
        aliases=("vqa_score",),
    ),
    Metric(
        name="vqa_accuracy_lavis",
        version="1",
        description=(
            "VQA soft accuracy as the LAVIS VQAEval of Monkey and Qwen-VL: prediction always normalised, "
            "golds only punctuation-processed when they disagree; leave-one-out by position."
        ),
        source="Yuliang-Liu/Monkey@498e1d9 eval/vqa_eval.py (= QwenLM/Qwen-VL@aa00ed0 eval_mm/vqa_eval.py)",
        per_sample=vqa.vqa_accuracy_lavis,
    ),
    Metric(
        name="textvqa_accuracy_mmf",
        version="1",
        description=(
            "TextVQA accuracy as MMF TextVQAAccuracyEvaluator + EvalAIAnswerProcessor on every string; "
            "requires exactly 10 answers."
        ),
        source=(
            "facebookresearch/mmf mmf/utils/m4c_evaluators.py (LLaVA, InternVL/Mini-Monkey textvqa_eval.py)"
        ),
        per_sample=vqa.textvqa_accuracy_mmf,
    ),
]
