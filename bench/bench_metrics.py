"""Metric throughput on generated, realistic answer pairs; prints figures (no pass/fail).

Run: /work/venv/bin/python bench/bench_metrics.py [--anls-pairs 1000000] [--per-metric 20000]

For every registered metric: samples/s through `Metric.score_samples` (the batch path where a metric has
one). Then each ANLS variant on `--anls-pairs` (prediction, gold) pairs, total wall time, and the ratio to
the PyPI `anls` package's `anls_score` on the same pairs (the package is timed on a subset and
extrapolated, as it is pure Python).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable

from anls import anls_score

from monkeyeval.metrics.registry import load_metric_registry

WORDS = [
    "total",
    "revenue",
    "2019",
    "2020",
    "percent",
    "yes",
    "no",
    "red",
    "blue",
    "green",
    "invoice",
    "date",
    "march",
    "april",
    "new",
    "york",
    "pizzeria",
    "company",
    "name",
    "amount",
    "due",
    "1,250.00",
    "$",
    "45%",
    "chart",
    "sales",
    "q3",
    "john",
    "smith",
    "street",
    "road",
    "12",
    "7",
    "3.5",
    "the",
    "a",
    "of",
]


def answer(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


def noisy(text: str, rng: random.Random) -> str:
    """A model-like prediction: often exact, sometimes case/space/typo noise, sometimes unrelated."""
    roll = rng.random()
    if roll < 0.45:
        return text
    if roll < 0.6:
        return text.upper() if rng.random() < 0.5 else f" {text}. "
    if roll < 0.85 and text:
        chars = list(text)
        for _ in range(rng.randint(1, 2)):
            chars[rng.randrange(len(chars))] = rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ")
        return "".join(chars)
    return answer(rng)


def make_samples(n: int, seed: int, n_golds: int | None = None) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    predictions, answers = [], []
    for _ in range(n):
        count = n_golds if n_golds is not None else (1 if rng.random() < 0.8 else rng.randint(2, 3))
        golds = [answer(rng) for _ in range(count)]
        predictions.append(noisy(golds[0], rng))
        answers.append(golds)
    return predictions, answers


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_all_metrics(per_metric: int) -> None:
    registry = load_metric_registry(extra_plugins=False)
    print(f"== every metric, {per_metric} samples each (20% multi-gold; VQA: 10 golds; CIDEr: 5 refs) ==")
    for metric in registry.all():
        n = per_metric
        if metric.name.startswith(("vqa_", "textvqa_")):
            predictions, answers = make_samples(n, 1, n_golds=10)
        elif metric.aggregation == "corpus":
            n = min(n, 5000)
            rng = random.Random(2)
            answers = [[" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(5)] for _ in range(n)]
            predictions = [noisy(refs[0], rng) for refs in answers]
        else:
            predictions, answers = make_samples(n, 1)
        extras = [{"options": {"A": "red", "B": "blue"}, "dataset_name": "IIIT5K"} for _ in range(n)]
        start = time.perf_counter()
        try:
            metric.score_samples(predictions, answers, extras)
        except RuntimeError as error:  # cider_coco without Java / pycocoevalcap
            print(f"{metric.name:30s} not measured: {error}")
            continue
        elapsed = time.perf_counter() - start
        path = "batch" if metric.batch is not None else metric.aggregation
        print(f"{metric.name:30s} {n / elapsed:>12,.0f} samples/s  ({path})")


def bench_anls(n_pairs: int, package_subset: int) -> None:
    registry = load_metric_registry(extra_plugins=False)
    predictions, answers = make_samples(n_pairs, 3, n_golds=1)
    print(f"\n== ANLS on {n_pairs:,} (prediction, gold) pairs; cpus={os.cpu_count()} ==")
    subset = min(package_subset, n_pairs)
    package_time = timed(
        lambda: [anls_score(p, g) for p, g in zip(predictions[:subset], answers[:subset], strict=True)]
    )
    package_total = package_time * n_pairs / subset
    print(
        f"PyPI anls.anls_score: {subset:,} pairs in {package_time:.2f}s -> extrapolated "
        f"{package_total:.1f}s for {n_pairs:,}"
    )
    for name in ("anls_docvqa", "anls_pypi", "anls_monkey", "anls_mmf"):
        metric = registry.get(name)
        assert metric.batch is not None
        elapsed = timed(lambda m=metric: m.batch(predictions, answers))  # type: ignore[misc]
        print(
            f"{name:14s} batch: {elapsed:6.2f}s total, {n_pairs / elapsed:>12,.0f} pairs/s, "
            f"{package_total / elapsed:5.1f}x faster than anls_score"
        )
    multi_predictions, multi_answers = make_samples(n_pairs // 2, 4)
    pairs = sum(len(a) for a in multi_answers)
    metric = registry.get("anls_docvqa")
    assert metric.batch is not None
    elapsed = timed(lambda: metric.batch(multi_predictions, multi_answers))  # type: ignore[misc]
    print(
        f"anls_docvqa batch, mixed 1-3 golds: {pairs:,} pairs in {elapsed:.2f}s "
        f"({pairs / elapsed:,.0f} pairs/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--anls-pairs", type=int, default=1_000_000)
    parser.add_argument("--per-metric", type=int, default=20_000)
    parser.add_argument("--package-subset", type=int, default=100_000)
    args = parser.parse_args()
    bench_all_metrics(args.per_metric)
    bench_anls(args.anls_pairs, args.package_subset)


if __name__ == "__main__":
    main()
