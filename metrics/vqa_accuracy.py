"""Built-in plugin: VQA soft accuracy, the shared answer normalisation and the three upstream variants.

See docs/metric-definitions.md "VQA soft accuracy". Golds are a list of strings; "other answers" in the
leave-one-out are taken BY POSITION: upstream compares answer dicts that carry a unique `answer_id` (official,
and LAVIS whose dict-inequality equals position when ids are unique, facts §5.2) or `(index, answer)` tuples
(MMF). A converted file whose answer dicts are fully identical would make LAVIS drop every copy at once; we
do not reproduce that, since our golds are plain strings with no ids.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from monkeyeval.metrics.base import Metric
from monkeyeval.metrics.checks import require_answers

from ._vqa_tables import ARTICLES, CONTRACTIONS, NUMBER_WORDS, PUNCTUATION

_DIGIT_COMMA_DIGIT = re.compile(r"(\d)(,)(\d)")
# Upstream's `(?!<=\d)` is a mistyped lookbehind: a lookahead that can never fail right before a ".", so in
# effect a period is deleted unless a digit follows it.
_PERIOD_NOT_BEFORE_DIGIT = re.compile(r"\.(?!\d)")
_MAX_PERIODS_DELETED = 32
"""Upstream passes `re.UNICODE` (== 32) as the positional `count` of `sub`."""


def process_punctuation(text: str) -> str:
    """VQA `processPunctuation`: each of the 21 marks is deleted when the ORIGINAL text contains `p+" "`,
    `" "+p` or a digit-comma-digit anywhere, else replaced by a space; then at most 32 periods not followed
    by a digit are deleted."""
    present = [mark for mark in PUNCTUATION if mark in text]  # absent marks: replace() would be a no-op
    if not present:
        return _PERIOD_NOT_BEFORE_DIGIT.sub("", text, count=_MAX_PERIODS_DELETED) if "." in text else text
    has_digit_comma = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for mark in present:
        if has_digit_comma or (mark + " ") in text or (" " + mark) in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_NOT_BEFORE_DIGIT.sub("", out, count=_MAX_PERIODS_DELETED) if "." in out else out


def process_digit_article(text: str) -> str:
    """VQA `processDigitArticle`: lowercase, split on whitespace, number words -> digits, drop a/an/the,
    apply the contraction table, join with single spaces."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    kept = [word for word in words if word not in ARTICLES]
    return " ".join(CONTRACTIONS.get(word, word) for word in kept)


def _clean_whitespace(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def soft_accuracy(prediction: str, golds: Sequence[str]) -> float:
    """Mean over gold positions i of `min(1, #{j != i : golds[j] == prediction} / 3)`."""
    matches = sum(1 for gold in golds if gold == prediction)
    total = 0.0
    for gold in golds:
        others_matching = matches - (1 if gold == prediction else 0)
        total += min(1, others_matching / 3)
    return total / len(golds)


def vqa_accuracy_official(prediction: str, answers: list[str]) -> float:
    """GT-Vision-Lab `vqaEval.py`: newline/tab -> space and strip everything; ONLY when the golds are not
    all identical do golds and prediction go through punctuation then digit/article processing."""
    require_answers("vqa_accuracy_official", answers)
    pred = _clean_whitespace(prediction)
    golds = [_clean_whitespace(a) for a in answers]
    unique = set(golds)
    if len(unique) > 1:
        normalised = {g: process_digit_article(process_punctuation(g)) for g in unique}
        golds = [normalised[g] for g in golds]
        pred = process_digit_article(process_punctuation(pred))
    return soft_accuracy(pred, golds)


def vqa_accuracy_lavis(prediction: str, answers: list[str]) -> float:
    """LAVIS `VQAEval` (Qwen-VL/Monkey `vqa_eval.py`): the prediction is always cleaned, punctuated and
    digit/article processed; golds are never stripped, lowercased or number-mapped, and get the punctuation
    pass only when they are not all identical."""
    require_answers("vqa_accuracy_lavis", answers)
    pred = process_digit_article(process_punctuation(_clean_whitespace(prediction)))
    golds = list(answers)
    unique = set(golds)
    if len(unique) > 1:
        punctuated = {g: process_punctuation(g) for g in unique}
        golds = [punctuated[g] for g in golds]
    return soft_accuracy(pred, golds)


def evalai_normalize(text: str) -> str:
    """MMF `EvalAIAnswerProcessor`: lower; delete "," and "?"; "'s" -> " 's"; strip; newline/tab -> space;
    strip; punctuation (its comma rule cannot fire: commas are gone); digit/article."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = _clean_whitespace(text)
    return process_digit_article(process_punctuation(text))


TEXTVQA_N_ANSWERS = 10


def textvqa_accuracy_mmf(prediction: str, answers: list[str]) -> float:
    """MMF `TextVQAAccuracyEvaluator`: every string through `evalai_normalize`, then the soft score.
    Upstream asserts exactly 10 answers; anything else raises ValueError."""
    if len(answers) != TEXTVQA_N_ANSWERS:
        raise ValueError(
            f"textvqa_accuracy_mmf: expected exactly {TEXTVQA_N_ANSWERS} gold answers (upstream asserts it), "
            f"got {len(answers)}; use vqa_accuracy_official or vqa_accuracy_lavis for other answer counts"
        )
    require_answers("textvqa_accuracy_mmf", answers)
    normalised = {a: evalai_normalize(a) for a in set(answers)}
    return soft_accuracy(evalai_normalize(prediction), [normalised[a] for a in answers])


METRICS: list[Metric] = [
    Metric(
        name="vqa_accuracy_official",
        version="1",
        description=(
            "VQA soft accuracy as GT-Vision-Lab vqaEval.py: normalisation only when the golds are not all "
            "identical; leave-one-out by position. Alias: vqa_score."
        ),
        source="GT-Vision-Lab/VQA@a013f00 PythonEvaluationTools/vqaEvaluation/vqaEval.py",
        per_sample=vqa_accuracy_official,
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
        per_sample=vqa_accuracy_lavis,
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
        per_sample=textvqa_accuracy_mmf,
    ),
]
