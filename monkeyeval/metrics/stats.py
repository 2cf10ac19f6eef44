"""Bootstrap confidence intervals for scores and the paired bootstrap the gate uses.

Resampling is over samples (percentile bootstrap), seeded with `numpy.random.Generator(PCG64(seed))`. A
resample's sum depends only on how often each distinct score is drawn, and those counts are multinomial
(n draws, probabilities = each value's share of the samples). With few distinct values (accuracy: 0 and 1;
a paired gate's differences: mostly 0) the counts are drawn directly, in O(resamples x distinct values)
instead of O(resamples x n): the same distribution, exactly, at a fraction of the cost. Otherwise indices
are drawn, vectorised in chunks so memory stays bounded (about 16M indices at a time).

Corpus metrics (CIDEr): the CI is computed by resampling the per-sample scores with the corpus statistics
(idf) held fixed, i.e. the mean of resampled per-image scores; this ignores idf variation across resamples
and is documented as such.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

_MAX_INDICES_PER_CHUNK = 1 << 24
MULTINOMIAL_SPEEDUP = 8  # draw value counts when n is at least this many times the distinct values

Scores = Sequence[float] | np.ndarray
"""Per-sample scores: any flat sequence of floats, or a 1-D numpy array."""


def _resample_chunks(n: int, n_resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Index matrices of shape (chunk, n), `n_resamples` rows in total."""
    rows_per_chunk = max(1, _MAX_INDICES_PER_CHUNK // max(n, 1))
    done = 0
    while done < n_resamples:
        rows = min(rows_per_chunk, n_resamples - done)
        yield rng.integers(0, n, size=(rows, n))
        done += rows


def resampled_sums(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The sum of each of `n_resamples` bootstrap resamples of `values` (n draws with replacement)."""
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size * MULTINOMIAL_SPEEDUP <= values.size:
        draws = rng.multinomial(values.size, counts / values.size, size=n_resamples)
        return draws @ distinct
    return np.concatenate(
        [values[idx].sum(axis=1) for idx in _resample_chunks(values.size, n_resamples, rng)]
    )


def _as_array(values: Scores, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of per-sample scores")
    if array.size and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite per-sample scores")
    return array


def bootstrap_ci(
    per_sample: Scores,
    aggregation: str,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the aggregate (`mean`, `corpus`: mean of per-sample scores; `sum`: sum).

    Returns (nan, nan) for no samples; a single sample gives a zero-width interval.
    """
    if aggregation not in ("mean", "sum", "corpus"):
        raise ValueError(f"bootstrap_ci: unknown aggregation {aggregation!r} (expected mean, sum or corpus)")
    if n_resamples < 1:
        raise ValueError("bootstrap_ci: n_resamples must be >= 1")
    if not 0 < alpha < 1:
        raise ValueError("bootstrap_ci: alpha must be in (0, 1)")
    values = _as_array(per_sample, "per_sample")
    if values.size == 0:
        return (math.nan, math.nan)
    rng = np.random.Generator(np.random.PCG64(seed))
    stats = resampled_sums(values, n_resamples, rng)
    if aggregation != "sum":
        stats /= values.size
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))


@dataclass(frozen=True)
class PairedResult:
    """Paired comparison of two runs on the same samples.

    `delta` = mean(new) - mean(base) (negative: a drop); `ci95` its 95% percentile-bootstrap interval;
    `p_value_drop` the one-sided bootstrap p-value for "new is worse than base": the share of resampled
    deltas that are >= 0 (with the +1 correction), so a small value means the drop is significant.
    """

    delta: float
    ci95: tuple[float, float]
    p_value_drop: float


def paired_bootstrap(base: Scores, new: Scores, n_resamples: int = 10000, seed: int = 0) -> PairedResult:
    """Paired bootstrap over samples of the mean difference `new - base` (same sample order in both)."""
    base_values = _as_array(base, "base")
    new_values = _as_array(new, "new")
    if base_values.size != new_values.size:
        raise ValueError(
            f"paired_bootstrap: base has {base_values.size} samples but new has {new_values.size}; "
            "a paired comparison needs the same samples in the same order"
        )
    if base_values.size == 0:
        raise ValueError("paired_bootstrap: no samples to compare")
    if n_resamples < 1:
        raise ValueError("paired_bootstrap: n_resamples must be >= 1")
    differences = new_values - base_values
    delta = float(differences.mean())
    rng = np.random.Generator(np.random.PCG64(seed))
    deltas = resampled_sums(differences, n_resamples, rng) / differences.size
    low, high = np.quantile(deltas, [0.025, 0.975])
    not_a_drop = int(np.count_nonzero(deltas >= 0))
    p_value = (not_a_drop + 1) / (n_resamples + 1)
    return PairedResult(delta=delta, ci95=(float(low), float(high)), p_value_drop=float(p_value))
