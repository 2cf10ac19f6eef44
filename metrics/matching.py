"""Built-in exact/containment matching metrics (implementations: monkeyeval.metrics.matching)."""

from __future__ import annotations

from monkeyeval.metrics import matching
from monkeyeval.metrics.base import Metric

METRICS: list[Metric] = [
    Metric(
        name="exact_match_qwen",
        version="1",
        description="pred.strip().lower() == gold.strip().lower() for any gold. Alias: accuracy.",
        source="QwenLM/Qwen-VL@aa00ed0 eval_mm/evaluate_vqa.py evaluate_exact_match_accuracy",
        per_sample=matching.exact_match_qwen,
        aliases=("accuracy",),
    ),
    Metric(
        name="contains_match_monkey",
        version="1",
        description="gold.strip().lower() in pred.strip().lower().replace('.', '') for any gold.",
        source="Yuliang-Liu/Monkey@498e1d9 eval/evaluate_vqa.py evaluate_exact_match_accuracy",
        per_sample=matching.contains_match_monkey,
    ),
    Metric(
        name="contains_match_textmonkey",
        version="1",
        description=(
            "Drop <point>/<box> blocks, then gold.strip().lower() in pred.strip().lower(); periods kept."
        ),
        source="Yuliang-Liu/Monkey@82457ed eval/evaluate_vqa_doc.py evaluate_exact_match_accuracy",
        per_sample=matching.contains_match_textmonkey,
    ),
    Metric(
        name="gqa_exact_match_qwen",
        version="1",
        description="GQA answer clean-up, then exact_match_qwen.",
        source="QwenLM/Qwen-VL@aa00ed0 eval_mm/evaluate_vqa.py (gqa post-processing + exact match)",
        per_sample=matching.gqa_exact_match_qwen,
    ),
    Metric(
        name="gqa_contains_monkey",
        version="1",
        description="GQA answer clean-up, then contains_match_monkey (the Monkey paper's gqa_testdev).",
        source="Yuliang-Liu/Monkey@498e1d9 eval/evaluate_vqa.py (gqa post-processing + containment)",
        per_sample=matching.gqa_contains_monkey,
    ),
    Metric(
        name="scienceqa_mc_internvl",
        version="1",
        description=(
            "ScienceQA letter: one char as is, else a leading option letter, else the first option whose "
            "text is a substring; compared case-sensitively with the gold letter. Needs extra field options."
        ),
        source="Yuliang-Liu/Monkey@498e1d9 project/mini_monkey/eval/scienceqa/evaluate_scienceqa.py",
        per_sample=matching.scienceqa_mc_internvl,
        extra_fields=("options",),
    ),
]
