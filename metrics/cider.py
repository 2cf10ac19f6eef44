"""Built-in CIDEr metrics (implementations: monkeyeval.metrics.cider)."""

from __future__ import annotations

from monkeyeval.metrics import cider
from monkeyeval.metrics.base import Metric

METRICS: list[Metric] = [
    Metric(
        name="cider_coco",
        version="1",
        description=(
            "CIDEr-D after the COCO PTB tokenizer (needs Java and pycocoevalcap: pip install "
            "'monkeyeval[cider]'). Native scale (papers report x100)."
        ),
        source="salaniz/pycocoevalcap 1.2 (tokenizer/ptbtokenizer.py + cider/cider_scorer.py)",
        aggregation="corpus",
        corpus=cider.cider_coco,
    ),
    Metric(
        name="cider_pretokenized",
        version="1",
        description="CIDEr-D on the strings as given (whitespace split, case and punctuation kept).",
        source="salaniz/pycocoevalcap 1.2 cider/cider_scorer.py",
        aggregation="corpus",
        corpus=cider.cider_pretokenized,
    ),
]
