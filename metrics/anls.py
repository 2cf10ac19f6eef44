"""Built-in ANLS metric variants (implementations: monkeyeval.metrics.anls)."""

from __future__ import annotations

from monkeyeval.metrics import anls
from monkeyeval.metrics.base import Metric

METRICS: list[Metric] = [
    Metric(
        name="anls_docvqa",
        version="1",
        description=(
            "ANLS as the RRC DocVQA/InfographicVQA scorer: squashed strings, raw-length upper() denominator, "
            "NL == 0.5 keeps 0.5. Alias: anls."
        ),
        source="QwenLM/Qwen-VL@aa00ed0 eval_mm/infographicsvqa_eval.py (RRC DocVQA/InfoVQA scorer)",
        per_sample=anls.anls_docvqa,
        batch=anls.anls_docvqa_batch,
        aliases=("anls",),
    ),
    Metric(
        name="anls_pypi",
        version="1",
        description="ANLS as PyPI anls 0.0.2 anls_score: squashed strings and denominator; NL == 0.5 -> 0.",
        source="PyPI anls 0.0.2 (shunk031/ANLS) anls/metrics/score.py anls_score",
        per_sample=anls.anls_pypi,
        batch=anls.anls_pypi_batch,
    ),
    Metric(
        name="anls_monkey",
        version="1",
        description=(
            "ANLS as Monkey evaluateANLS: lower().strip() distance without whitespace collapse, denominator "
            "max(len(raw gold), len(stripped pred)). Golds always a list (upstream iterates a string "
            "annotation's characters)."
        ),
        source="Yuliang-Liu/Monkey@498e1d9 eval/evaluate_vqa.py evaluateANLS/normANLS",
        per_sample=anls.anls_monkey,
        batch=anls.anls_monkey_batch,
    ),
    Metric(
        name="anls_mmf",
        version="1",
        description=(
            "ANLS as MMF STVQAANLSEvaluator: 1 - lev/max(len) on lower().strip() strings, kept if >= 0.5. "
            "Both strings empty raises ValueError (upstream ZeroDivisionError)."
        ),
        source="facebookresearch/mmf mmf/utils/m4c_evaluators.py STVQAANLSEvaluator (LLaVA/InternVL copies)",
        per_sample=anls.anls_mmf,
        batch=anls.anls_mmf_batch,
    ),
]
