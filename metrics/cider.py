"""Built-in plugin: CIDEr-D exactly as `pycocoevalcap.cider` computes it, plus the COCO PTB pipeline.

See docs/metric-definitions.md "CIDEr". The per-image score depends on the whole corpus (idf is counted over
this corpus's reference sets), so these are corpus functions: `(predictions, references) -> (corpus score,
per-image scores)`. Operations follow the upstream order so the floats match it.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import shutil
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from monkeyeval.metrics.base import Metric, MissingDependencyError
from monkeyeval.metrics.checks import require_same_length

NGRAM_ORDER = 4
SIGMA = 6.0

NGram = tuple[str, ...]
Counts = dict[NGram, int]

JAVA_LINE_BREAKS = ("\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
"""Characters Java's line reader treats as line ends: in pycocoevalcap they would shift every later caption
onto the wrong image, so `cider_coco` replaces each with a space before tokenizing."""


def ngram_counts(sentence: str, n: int = NGRAM_ORDER) -> Counts:
    """Counts of every 1..n-gram of the whitespace-split sentence, in upstream insertion order."""
    words = sentence.split()
    counts: Counts = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i : i + k])] += 1
    return counts


class _TfIdf:
    """tf-idf vectors per n-gram order, their norms, and the (quirky) bigram-count "length"."""

    def __init__(
        self, counts: Counts, document_frequency: Mapping[NGram, int], log_corpus_size: float, n: int
    ):
        self.vectors: list[dict[NGram, float]] = [{} for _ in range(n)]
        squared = [0.0] * n
        self.length = 0
        for ngram, term_frequency in counts.items():
            idf_log = float(np.log(max(1.0, document_frequency.get(ngram, 0))))
            order = len(ngram) - 1
            value = float(term_frequency) * (log_corpus_size - idf_log)
            self.vectors[order][ngram] = value
            squared[order] += pow(value, 2)
            if order == 1:  # upstream quirk: the length is the number of BIGRAMS
                self.length += term_frequency
        self.norms = [float(np.sqrt(s)) for s in squared]


def _similarity(hyp: _TfIdf, ref: _TfIdf, n: int, sigma: float) -> np.ndarray:
    delta = float(hyp.length - ref.length)
    values = np.array([0.0 for _ in range(n)])
    for order in range(n):
        ref_vector = ref.vectors[order]
        for ngram, hyp_value in hyp.vectors[order].items():
            ref_value = ref_vector.get(ngram, 0.0)
            values[order] += min(hyp_value, ref_value) * ref_value
        if hyp.norms[order] != 0 and ref.norms[order] != 0:
            values[order] /= hyp.norms[order] * ref.norms[order]
        values[order] *= np.e ** (-(delta**2) / (2 * sigma**2))
    return values


def cider_d(
    candidates: Sequence[str],
    references: Sequence[Sequence[str]],
    n: int = NGRAM_ORDER,
    sigma: float = SIGMA,
) -> tuple[float, list[float]]:
    """CIDEr-D over a corpus of already tokenized strings (whitespace split, case and punctuation kept).

    idf = log(#images) - log(max(1, df)) with df counted over each image's reference SET; clipped dot
    product `min(h, r) * r` normalised by the norms; Gaussian penalty on the bigram-count difference;
    mean over orders, mean over references, x10. Returns (mean over images, per-image scores).
    """
    require_same_length("cider", candidates, references)
    for index, refs in enumerate(references):
        if len(refs) == 0:
            raise ValueError(
                f"cider: image {index} has no reference captions; every image needs at least one"
            )
    if not candidates:
        return float("nan"), []
    reference_counts = [[ngram_counts(ref, n) for ref in refs] for refs in references]
    document_frequency: dict[NGram, int] = defaultdict(int)
    for counts_of_image in reference_counts:
        for ngram in {ngram for counts in counts_of_image for ngram in counts}:
            document_frequency[ngram] += 1
    log_corpus_size = float(np.log(float(len(references))))
    scores: list[float] = []
    for candidate, counts_of_image in zip(candidates, reference_counts, strict=True):
        hyp = _TfIdf(ngram_counts(candidate, n), document_frequency, log_corpus_size, n)
        score = np.array([0.0 for _ in range(n)])
        for ref_counts in counts_of_image:
            ref = _TfIdf(ref_counts, document_frequency, log_corpus_size, n)
            score += _similarity(hyp, ref, n, sigma)
        average = np.mean(score)
        average /= len(counts_of_image)
        average *= 10.0
        if math.isnan(average):
            raise ValueError(f"cider: image {len(scores)} scored NaN")
        scores.append(float(average))
    return float(np.mean(np.array(scores))), scores


def cider_pretokenized(
    predictions: Sequence[str], answers: Sequence[Sequence[str]]
) -> tuple[float, list[float]]:
    """`cider_pretokenized`: CIDEr-D on the strings exactly as given."""
    return cider_d(predictions, answers)


def replace_java_line_breaks(text: str) -> str:
    """Replace every character Java treats as a line end with a space."""
    for char in JAVA_LINE_BREAKS:
        text = text.replace(char, " ")
    return text


Tokenizer = Callable[[dict[int, list[str]]], dict[int, list[str]]]
"""`{image index: [captions]} -> {image index: [tokenized captions]}`."""


def ptb_tokenizer() -> Tokenizer:
    """The COCO PTB tokenizer (Stanford CoreNLP 3.4.1 jar shipped with pycocoevalcap, run with Java).

    Raises MissingDependencyError, saying how to install, when Java or pycocoevalcap is missing.
    """
    missing = []
    if shutil.which("java") is None:
        missing.append("Java (a JRE on PATH, e.g. `apt-get install default-jre-headless`)")
    if importlib.util.find_spec("pycocoevalcap") is None:
        missing.append("pycocoevalcap (`pip install 'monkeyeval[cider]'`)")
    if missing:
        raise MissingDependencyError(
            "cider_coco needs " + " and ".join(missing) + "; or score pre-tokenized captions with "
            "cider_pretokenized"
        )
    module = importlib.import_module("pycocoevalcap.tokenizer.ptbtokenizer")
    tokenizer = module.PTBTokenizer()

    def tokenize(captions: dict[int, list[str]]) -> dict[int, list[str]]:
        wrapped = {key: [{"caption": caption} for caption in values] for key, values in captions.items()}
        result: dict[int, list[str]] = tokenizer.tokenize(wrapped)
        return result

    return tokenize


def cider_coco(
    predictions: Sequence[str],
    answers: Sequence[Sequence[str]],
    tokenize: Tokenizer | None = None,
) -> tuple[float, list[float]]:
    """`cider_coco`: COCOEvalCap pipeline: PTB-tokenize references and predictions (separately, as
    COCOEvalCap does), then CIDEr-D. Java line-break characters are replaced by spaces first."""
    require_same_length("cider_coco", predictions, answers)
    if tokenize is None:
        tokenize = ptb_tokenizer()
    if not predictions:
        return float("nan"), []
    references = {i: [replace_java_line_breaks(r) for r in refs] for i, refs in enumerate(answers)}
    for index, refs in references.items():
        if not refs:
            raise ValueError(f"cider_coco: image {index} has no reference captions")
    hypotheses = {i: [replace_java_line_breaks(p)] for i, p in enumerate(predictions)}
    tokenized_refs = tokenize(references)
    tokenized_hyps = tokenize(hypotheses)
    keys = range(len(predictions))
    return cider_d([tokenized_hyps[k][0] for k in keys], [tokenized_refs[k] for k in keys])


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
        corpus=cider_coco,
    ),
    Metric(
        name="cider_pretokenized",
        version="1",
        description="CIDEr-D on the strings as given (whitespace split, case and punctuation kept).",
        source="salaniz/pycocoevalcap 1.2 cider/cider_scorer.py",
        aggregation="corpus",
        corpus=cider_pretokenized,
    ),
]
