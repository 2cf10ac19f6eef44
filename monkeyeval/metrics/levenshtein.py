"""Unit-cost Levenshtein distance over Python code points (the distance every ANLS variant uses)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist


def levenshtein(a: str, b: str) -> int:
    """Edit distance with unit insert/delete/substitute costs, counted in code points."""
    return int(Levenshtein.distance(a, b))


def pairwise_levenshtein(left: Sequence[str], right: Sequence[str], workers: int = -1) -> np.ndarray:
    """Distances `lev(left[i], right[i])` for every i, computed in C across `workers` threads (-1: all)."""
    if len(left) != len(right):
        raise ValueError(f"pairwise_levenshtein: {len(left)} left strings but {len(right)} right strings")
    if not left:
        return np.zeros(0, dtype=np.int64)
    distances = cpdist(list(left), list(right), scorer=Levenshtein.distance, workers=workers, dtype=np.int64)
    return np.asarray(distances, dtype=np.int64)
