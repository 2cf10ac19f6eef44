"""Bootstrap confidence intervals and the paired bootstrap used by the gate."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from monkeyeval.metrics import stats
from monkeyeval.metrics.stats import PairedResult, bootstrap_ci, paired_bootstrap


def bernoulli(n: int, p: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


def test_ci_is_deterministic_and_brackets_the_mean() -> None:
    values = np.random.default_rng(1).random(500)
    low, high = bootstrap_ci(values, "mean")
    assert (low, high) == bootstrap_ci(values, "mean", seed=0)
    assert (low, high) != bootstrap_ci(values, "mean", seed=1)
    assert low < values.mean() < high


def test_ci_width_matches_the_normal_approximation() -> None:
    values = bernoulli(2000, 0.6, 2)
    low, high = bootstrap_ci(values, "mean", n_resamples=2000)
    half_width = 1.96 * math.sqrt(values.mean() * (1 - values.mean()) / values.size)
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.1)


def test_ci_of_sum_is_n_times_ci_of_mean() -> None:
    values = bernoulli(300, 0.3, 3)
    low, high = bootstrap_ci(values, "mean")
    sum_low, sum_high = bootstrap_ci(values, "sum")
    assert sum_low == pytest.approx(low * values.size) and sum_high == pytest.approx(high * values.size)
    assert bootstrap_ci(values, "corpus") == (low, high)


def test_alpha_controls_the_width() -> None:
    values = bernoulli(300, 0.5, 4)
    low90, high90 = bootstrap_ci(values, "mean", alpha=0.10)
    low95, high95 = bootstrap_ci(values, "mean", alpha=0.05)
    assert low95 <= low90 < high90 <= high95


def test_chunking_does_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(5).random(97)
    whole = bootstrap_ci(values, "mean", n_resamples=500)
    monkeypatch.setattr(stats, "_MAX_INDICES_PER_CHUNK", 97 * 7)
    assert bootstrap_ci(values, "mean", n_resamples=500) == whole


def test_matches_a_plain_loop_with_the_same_generator() -> None:
    values = np.random.default_rng(6).random(50)
    rng = np.random.Generator(np.random.PCG64(0))
    means = [values[rng.integers(0, 50, size=50)].mean() for _ in range(200)]
    low, high = bootstrap_ci(values, "mean", n_resamples=200)
    assert low == pytest.approx(np.quantile(means, 0.025)) and high == pytest.approx(
        np.quantile(means, 0.975)
    )


def test_few_distinct_values_draw_counts_from_the_same_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    """The multinomial path (counts of each distinct value) and the index path agree in distribution."""
    values = np.concatenate([bernoulli(600, 0.3, 7), np.full(30, 0.5)])  # three distinct values
    rng = np.random.Generator(np.random.PCG64(3))
    counted = stats.resampled_sums(values, 40_000, rng)
    monkeypatch.setattr(stats, "MULTINOMIAL_SPEEDUP", values.size + 1)  # force index resampling
    drawn = stats.resampled_sums(values, 40_000, np.random.Generator(np.random.PCG64(4)))
    expected_sd = values.std() * math.sqrt(values.size)
    for sums in (counted, drawn):
        assert sums.mean() == pytest.approx(values.sum(), abs=0.1)
        assert sums.std() == pytest.approx(expected_sd, rel=0.02)
    assert np.quantile(counted, [0.025, 0.5, 0.975]) == pytest.approx(
        np.quantile(drawn, [0.025, 0.5, 0.975]), abs=1.0
    )


def test_the_resampling_path_follows_the_number_of_distinct_values(monkeypatch: pytest.MonkeyPatch) -> None:
    index_draws: list[int] = []
    chunks = stats._resample_chunks

    def counting(n: int, n_resamples: int, rng: np.random.Generator) -> Any:
        index_draws.append(n)
        return chunks(n, n_resamples, rng)

    monkeypatch.setattr(stats, "_resample_chunks", counting)
    binary = bernoulli(100, 0.5, 8)
    low, high = bootstrap_ci(binary, "mean")  # 2 distinct values out of 100: counts drawn
    assert index_draws == [] and low < binary.mean() < high
    assert (low, high) == bootstrap_ci(binary, "mean")
    bootstrap_ci(np.random.default_rng(9).random(100), "mean")  # 100 distinct values: indices drawn
    assert index_draws == [100]


def test_edge_cases() -> None:
    assert all(math.isnan(v) for v in bootstrap_ci([], "mean"))
    assert bootstrap_ci([0.7], "mean") == (pytest.approx(0.7), pytest.approx(0.7))
    assert bootstrap_ci([1.0] * 20, "mean") == (1.0, 1.0)
    with pytest.raises(ValueError, match="unknown aggregation"):
        bootstrap_ci([1.0], "median")
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([1.0, float("nan")], "mean")
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci([1.0], "mean", alpha=1.5)


def test_paired_identical_runs() -> None:
    values = bernoulli(200, 0.5, 7)
    result = paired_bootstrap(values, values)
    assert result == PairedResult(delta=0.0, ci95=(0.0, 0.0), p_value_drop=1.0)


def test_paired_clear_drop_is_significant() -> None:
    base = bernoulli(1000, 0.7, 8)
    new = base.copy()
    new[:60] = 0.0
    result = paired_bootstrap(base, new, n_resamples=2000)
    assert result.delta == pytest.approx(new.mean() - base.mean())
    assert result.delta < 0 and result.ci95[1] < 0
    assert result.p_value_drop == pytest.approx(1 / 2001)


def test_paired_improvement_is_not_a_drop() -> None:
    base = bernoulli(1000, 0.5, 9)
    new = np.maximum(base, bernoulli(1000, 0.1, 10))
    result = paired_bootstrap(base, new, n_resamples=2000)
    assert result.delta > 0 and result.p_value_drop == 1.0


def test_paired_noise_is_not_significant() -> None:
    base = bernoulli(400, 0.5, 11)
    new = base.copy()
    new[[3, 50]] = 1 - new[[3, 50]]  # one flip each way at most: tiny, symmetric-ish change
    result = paired_bootstrap(base, new, n_resamples=2000)
    assert result.p_value_drop > 0.05
    assert result.ci95[0] <= result.delta <= result.ci95[1]


def test_paired_requires_aligned_samples() -> None:
    with pytest.raises(ValueError, match="base has 2 samples but new has 3"):
        paired_bootstrap([1.0, 0.0], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="no samples"):
        paired_bootstrap([], [])
