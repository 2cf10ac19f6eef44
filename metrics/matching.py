"""Built-in plugin: exact-match and substring ("containment") metrics, GQA answer clean-up and ScienceQA
letter matching. See docs/metric-definitions.md "Exact / substring matching" and facts §5.3-5.5."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from monkeyeval.metrics.base import Metric
from monkeyeval.metrics.checks import require_answers


def exact_match_qwen(prediction: str, answers: list[str]) -> float:
    """Qwen-VL `evaluate_exact_match_accuracy`: `pred.strip().lower() == gold.strip().lower()`, any gold."""
    require_answers("exact_match_qwen", answers)
    pred = prediction.strip().lower()
    return float(any(pred == gold.strip().lower() for gold in answers))


def contains_match_monkey(prediction: str, answers: list[str]) -> float:
    """Monkey `evaluate_exact_match_accuracy` (a substring test despite its name):
    `gold.strip().lower() in pred.strip().lower().replace(".", "")`. Periods leave the PREDICTION only, so a
    gold containing "." never matches; an empty gold always matches."""
    require_answers("contains_match_monkey", answers)
    pred = prediction.strip().lower().replace(".", "")
    return float(any(gold.strip().lower() in pred for gold in answers))


_POINT_BLOCK = re.compile(r"<point>(.*?)</point>")
_BOX_BLOCK = re.compile(r"<box>(.*?)</box>")


def _remove_blocks(text: str, pattern: re.Pattern[str], open_tag: str, close_tag: str) -> str:
    """Find every non-greedy block first, then delete each found block's exact text (all occurrences), in
    order, as TextMonkey does (`.` does not cross newlines, so multi-line blocks stay)."""
    for inner in pattern.findall(text):
        text = text.replace(open_tag + inner + close_tag, "")
    return text


def strip_textmonkey_blocks(prediction: str) -> str:
    """Remove `<point>...</point>` blocks, then `<box>...</box>` blocks (TextMonkey `evaluate_vqa_doc.py`)."""
    text = _remove_blocks(prediction, _POINT_BLOCK, "<point>", "</point>")
    return _remove_blocks(text, _BOX_BLOCK, "<box>", "</box>")


def contains_match_textmonkey(prediction: str, answers: list[str]) -> float:
    """TextMonkey containment: drop point/box blocks, then `gold.strip().lower() in pred.strip().lower()`
    (no period removal)."""
    require_answers("contains_match_textmonkey", answers)
    pred = strip_textmonkey_blocks(prediction).strip().lower()
    return float(any(gold.strip().lower() in pred for gold in answers))


_GQA_LEADS = ("is ", "are ", "a ", "an ", "the ")


def gqa_post_process(prediction: str) -> str:
    """GQA answer clean-up (Qwen-VL/Monkey/Mini-Monkey): text before the first ".", then "," then "!";
    lowercase; for each of "is ", "are ", "a ", "an ", "the " in order, if it occurs ANYWHERE (also inside a
    word) keep the piece right after its first occurrence; keep what precedes the first " of"; strip."""
    text = prediction.strip().split(".")[0].split(",")[0].split("!")[0].lower()
    for lead in _GQA_LEADS:
        if lead in text:
            text = text.split(lead)[1]
    if " of" in text:
        text = text.split(" of")[0]
    return text.strip()


def gqa_exact_match_qwen(prediction: str, answers: list[str]) -> float:
    """GQA clean-up, then `exact_match_qwen`."""
    return exact_match_qwen(gqa_post_process(prediction), answers)


def gqa_contains_monkey(prediction: str, answers: list[str]) -> float:
    """Monkey `gqa_testdev`: GQA clean-up, then `contains_match_monkey`."""
    return contains_match_monkey(gqa_post_process(prediction), answers)


def _options_mapping(options: Mapping[str, Any] | Sequence[Any] | None) -> dict[str, str]:
    """Options as letter -> text: a dict as given (its order), or a list lettered A, B, C, ..."""
    if options is None:
        raise ValueError(
            "scienceqa_mc_internvl: the sample has no 'options' field; add options (a dict letter -> text "
            "or a list of option texts) to every jsonl line"
        )
    if isinstance(options, Mapping):
        return {str(k): str(v) for k, v in options.items()}
    if isinstance(options, str) or not isinstance(options, Sequence):
        raise TypeError(f"scienceqa_mc_internvl: 'options' must be a dict or a list, got {options!r}")
    if len(options) > len(string.ascii_uppercase):
        raise ValueError(f"scienceqa_mc_internvl: at most 26 options are supported, got {len(options)}")
    return {letter: str(text) for letter, text in zip(string.ascii_uppercase, options, strict=False)}


def scienceqa_choice(prediction: str, options: Mapping[str, str]) -> str:
    """InternVL `evaluate_scienceqa.py` `post_process`: strip; a one-character answer as is; else its first
    character when that is an option letter; else the first option (dict order) whose text is a substring;
    else the stripped text. An empty prediction stays "" (upstream raises IndexError on it)."""
    pred = prediction.strip()
    if len(pred) <= 1:
        return pred
    if pred[0] in options:
        return pred[0]
    for letter, text in options.items():
        if text in pred:
            return letter
    return pred


def scienceqa_mc_internvl(
    prediction: str, answers: list[str], options: Mapping[str, Any] | Sequence[Any] | None = None
) -> float:
    """The chosen letter compared case-sensitively with any gold letter."""
    require_answers("scienceqa_mc_internvl", answers)
    choice = scienceqa_choice(prediction, _options_mapping(options))
    return float(any(choice == gold for gold in answers))


METRICS: list[Metric] = [
    Metric(
        name="exact_match_qwen",
        version="1",
        description="pred.strip().lower() == gold.strip().lower() for any gold. Alias: accuracy.",
        source="QwenLM/Qwen-VL@aa00ed0 eval_mm/evaluate_vqa.py evaluate_exact_match_accuracy",
        per_sample=exact_match_qwen,
        aliases=("accuracy",),
    ),
    Metric(
        name="contains_match_monkey",
        version="1",
        description="gold.strip().lower() in pred.strip().lower().replace('.', '') for any gold.",
        source="Yuliang-Liu/Monkey@498e1d9 eval/evaluate_vqa.py evaluate_exact_match_accuracy",
        per_sample=contains_match_monkey,
    ),
    Metric(
        name="contains_match_textmonkey",
        version="1",
        description=(
            "Drop <point>/<box> blocks, then gold.strip().lower() in pred.strip().lower(); periods kept."
        ),
        source="Yuliang-Liu/Monkey@82457ed eval/evaluate_vqa_doc.py evaluate_exact_match_accuracy",
        per_sample=contains_match_textmonkey,
    ),
    Metric(
        name="gqa_exact_match_qwen",
        version="1",
        description="GQA answer clean-up, then exact_match_qwen.",
        source="QwenLM/Qwen-VL@aa00ed0 eval_mm/evaluate_vqa.py (gqa post-processing + exact match)",
        per_sample=gqa_exact_match_qwen,
    ),
    Metric(
        name="gqa_contains_monkey",
        version="1",
        description="GQA answer clean-up, then contains_match_monkey (the Monkey paper's gqa_testdev).",
        source="Yuliang-Liu/Monkey@498e1d9 eval/evaluate_vqa.py (gqa post-processing + containment)",
        per_sample=gqa_contains_monkey,
    ),
    Metric(
        name="scienceqa_mc_internvl",
        version="1",
        description=(
            "ScienceQA letter: one char as is, else a leading option letter, else the first option whose "
            "text is a substring; compared case-sensitively with the gold letter. Needs extra field options."
        ),
        source="Yuliang-Liu/Monkey@498e1d9 project/mini_monkey/eval/scienceqa/evaluate_scienceqa.py",
        per_sample=scienceqa_mc_internvl,
        extra_fields=("options",),
    ),
]
