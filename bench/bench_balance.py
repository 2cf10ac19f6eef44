"""Balanced work within and across ranks on a simulated Mini-Monkey DocVQA workload (prints figures).

    python bench/bench_balance.py [--samples 5349] [--ranks 8] [--batch-size 16] [--lookahead 5] [--seed 0]

Workload (an assumption, stated here because no page sizes ship with the repo): DocVQA val has 5349 questions
on 1286 scanned pages (about 4 per page, asked consecutively in the jsonl). Pages come in runs of one kind
(mean 20 pages), as documents of one collection sit together: 65 % portrait letters/forms (aspect U(0.65,
0.85), 1000..2600 px tall), 15 % landscape tables/slides (U(1.2, 1.7)), 12 % tall receipts/columns (U(0.25,
0.55)), 8 % small crops (U(0.5, 2.0), 150..600 px tall). Tiles per page are the REAL rule of the adapter
(`MiniMonkeyAdapter.msac_tile_count`, DocVQA budget 1-24 / 1-8, primary_first: grid + thumbnail + second
scale), which gives 5..33 tiles of 256 tokens (median 22); prompts add 40..90 tokens; answers decode
2..24 tokens.

Cost model of one batch (H100-like constants, bf16 InternLM2-1.8B + InternViT-300M): prefill is per row in
Mini-Monkey (no padding work), PREFILL_S_PER_TOKEN x the batch's tokens; decoding runs max(answer) + 1
steps, each DECODE_STEP_S + KV_S_PER_TOKEN x batch x longest prompt (the left-padded KV cache is read in
full). Padding waste is the padded share of that cache: (batch x longest - sum of lengths) / (batch x
longest), over all batches.

Old scheme: each rank a static contiguous slice of the todo list (`sharding.contiguous_shard`), batched in
dataset order. New scheme: the REAL `schedule.plan_batches` (costs from the same tile rule) and the REAL claim
walk (`claims.ClaimPool` files in a temp folder through `workers.BatchOrder`), on an event clock where each
rank holds `--lookahead` claimed batches (DataLoader workers x prefetch 1, plus the batch generating) and
claims the next when it finishes one. Tail = last rank's finish - first rank's finish, in mean batch times of
that scheme. Targets: padding waste <= 10 %, tail <= 1 batch time.
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from monkeyeval.core.types import Sample
from monkeyeval.models.minimonkey.adapter import MiniMonkeyAdapter
from monkeyeval.models.minimonkey.msac import TILE_BUDGETS, MsacOrder
from monkeyeval.runner.claims import ClaimPool
from monkeyeval.runner.data import WorkItem, cut
from monkeyeval.runner.schedule import plan_batches
from monkeyeval.runner.sharding import contiguous_shard
from monkeyeval.runner.workers import BatchOrder

TOKENS_PER_TILE = 256
PREFILL_S_PER_TOKEN = 1 / 40_000
DECODE_STEP_S = 0.008
KV_S_PER_TOKEN = 3.3e-8
TARGET_WASTE, TARGET_TAIL = 0.10, 1.0
PAGE_KINDS = (  # (share, aspect ratio range, height range in px)
    (0.65, (0.65, 0.85), (1000, 2600)),
    (0.15, (1.2, 1.7), (900, 1800)),
    (0.12, (0.25, 0.55), (1200, 3000)),
    (0.08, (0.5, 2.0), (150, 600)),
)


@dataclass(frozen=True)
class Job:
    """One simulated sample: its prefill tokens (the cost the scheduler sees) and its answer's length."""

    tokens: int
    answer_tokens: int


def workload(n_samples: int, seed: int) -> tuple[list[Job], list[int]]:
    """Jobs in dataset order (questions of one page consecutive, page kinds in runs), and tiles per page."""
    rng = random.Random(seed)
    budget = TILE_BUDGETS["DocVQA"]
    jobs: list[Job] = []
    tiles_per_page: list[int] = []
    kind = PAGE_KINDS[0]
    while len(jobs) < n_samples:
        if rng.random() < 1 / 20:  # a new run of pages of one kind
            kind = rng.choices(PAGE_KINDS, weights=[k[0] for k in PAGE_KINDS])[0]
        _, (low_ratio, high_ratio), (low_h, high_h) = kind
        height = rng.randint(low_h, high_h)
        width = max(1, round(height * rng.uniform(low_ratio, high_ratio)))
        tiles = MiniMonkeyAdapter.msac_tile_count(width, height, budget, MsacOrder.PRIMARY_FIRST)
        tiles_per_page.append(tiles)
        for _ in range(rng.choice((2, 3, 4, 5, 6))):
            prompt = rng.randint(40, 90)
            answer = min(24, 2 + int(rng.expovariate(1 / 4)))
            jobs.append(Job(tiles * TOKENS_PER_TILE + prompt, answer))
    return jobs[:n_samples], tiles_per_page


def batch_time(batch: Sequence[Job]) -> float:
    """Seconds for one batch under the cost model of the module docstring."""
    longest = max(job.tokens for job in batch)
    steps = max(job.answer_tokens for job in batch) + 1
    prefill = PREFILL_S_PER_TOKEN * sum(job.tokens for job in batch)
    return prefill + steps * (DECODE_STEP_S + KV_S_PER_TOKEN * len(batch) * longest)


def padding(batches: Sequence[Sequence[Job]]) -> float:
    """Padded KV positions / computed KV positions over all batches."""
    computed = sum(len(batch) * max(job.tokens for job in batch) for batch in batches)
    real = sum(job.tokens for batch in batches for job in batch)
    return (computed - real) / computed


@dataclass
class Outcome:
    """One scheme's figures."""

    waste: float
    finish: list[float]
    mean_batch_s: float

    @property
    def tail(self) -> float:
        return (max(self.finish) - min(self.finish)) / self.mean_batch_s


def old_scheme(jobs: list[Job], ranks: int, batch_size: int) -> Outcome:
    """Static contiguous slices, dataset-order batches (the runner before claims)."""
    slices = [cut(contiguous_shard(jobs, rank, ranks), batch_size) for rank in range(ranks)]
    every = [batch for batches in slices for batch in batches]
    finish = [sum(batch_time(batch) for batch in batches) for batches in slices]
    return Outcome(padding(every), finish, statistics.mean(batch_time(b) for b in every))


def as_items(jobs: list[Job]) -> list[WorkItem]:
    samples = (
        Sample(index=i, id=str(i), question="", answers=[], image="", image_path=None)
        for i in range(len(jobs))
    )
    return [WorkItem(sample, "", "") for sample in samples]


def new_scheme(jobs: list[Job], ranks: int, batch_size: int, lookahead: int, folder: Path) -> Outcome:
    """Sorted batches (schedule.py), claimed through real claim files on an event clock."""
    items = as_items(jobs)
    planned = plan_batches(items, [job.tokens for job in jobs], batch_size)
    batches = [[jobs[item.sample.index] for item in batch] for batch in planned]
    walks: list[Iterator[int]] = [
        BatchOrder(len(planned), ClaimPool(folder, rank, len(planned))).positions() for rank in range(ranks)
    ]
    held: list[list[int]] = [[] for _ in range(ranks)]
    for _ in range(lookahead):  # at start every rank's loader fills up, the ranks interleaved
        for rank in range(ranks):
            position = next(walks[rank], None)
            if position is not None:
                held[rank].append(position)
    clock = [(0.0, rank) for rank in range(ranks)]
    finish = [0.0] * ranks
    while clock:
        now, rank = heapq.heappop(clock)
        if not held[rank]:
            finish[rank] = now
            continue
        done = now + batch_time(batches[held[rank].pop(0)])
        position = next(walks[rank], None)  # the loader has room again: claim the next free batch
        if position is not None:
            held[rank].append(position)
        heapq.heappush(clock, (done, rank))
    return Outcome(padding(batches), finish, statistics.mean(batch_time(b) for b in batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5349)
    parser.add_argument("--ranks", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lookahead", type=int, default=5, help="claimed batches a rank holds (workers + 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    jobs, tiles = workload(args.samples, args.seed)
    deciles = statistics.quantiles(tiles, n=10)
    print(
        f"workload: {len(jobs)} samples on {len(tiles)} pages; tiles per page min {min(tiles)}, p10 "
        f"{deciles[0]:.0f}, median {statistics.median(tiles):.0f}, p90 {deciles[-1]:.0f}, "
        f"max {max(tiles)}; {args.ranks} ranks, batch size {args.batch_size}"
    )
    with tempfile.TemporaryDirectory() as folder:
        new = new_scheme(
            jobs, args.ranks, args.batch_size, args.lookahead, Path(folder) / "claims-attempt0001"
        )
    old = old_scheme(jobs, args.ranks, args.batch_size)
    for name, outcome in (("old (static slices, dataset order)", old), ("new (sorted, claimed)", new)):
        print(
            f"{name}: padding waste {outcome.waste:.1%} (target <= {TARGET_WASTE:.0%}), tail "
            f"{outcome.tail:.2f} batch times of {outcome.mean_batch_s:.2f} s (target <= {TARGET_TAIL:g}), "
            f"makespan {max(outcome.finish):.0f} s, rank busy {sum(outcome.finish):.0f} s"
        )
    met = new.waste <= TARGET_WASTE and new.tail <= TARGET_TAIL
    speedup = max(old.finish) / max(new.finish)
    print(f"new scheme {'meets' if met else 'MISSES'} both targets; makespan x{speedup:.2f} faster")


if __name__ == "__main__":
    main()
