"""`--shard i/N` jobs: contiguous slices of the dataset, as upstream's InferenceSampler gives each rank.

The ranks of one torchrun job do not slice: they claim batches of the shared todo list (runner/claims.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from monkeyeval.core.errors import BadValue

T = TypeVar("T")


@dataclass(frozen=True)
class ShardSpec:
    """`--shard i/N`: this job is shard `index` (0-based) of `count` independent jobs."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """Parse "i/N" with 0 <= i < N."""
        head, sep, tail = text.partition("/")
        try:
            index, count = int(head), int(tail)
        except ValueError:
            index, count = -1, 0
        if not sep or count < 1 or not 0 <= index < count:
            raise BadValue(f"--shard {text!r}: expected i/N with 0 <= i < N, e.g. --shard 0/4")
        return cls(index, count)


def shard_bounds(total: int, rank: int, world_size: int) -> tuple[int, int]:
    """[begin, end) of rank's contiguous slice; the first `total % world_size` ranks get one extra item."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    base, extra = divmod(total, world_size)
    begin = rank * base + min(rank, extra)
    return begin, begin + base + (1 if rank < extra else 0)


def contiguous_shard(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """The items of rank's contiguous slice (order kept)."""
    begin, end = shard_bounds(len(items), rank, world_size)
    return list(items[begin:end])
