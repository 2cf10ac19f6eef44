"""This process's share of a task: predict it into its own part file, and (rank 0) wait for the others.

The share's batches come from runner/schedule.py (sorted by cost when the adapter estimates it, else in
dataset order). A single process runs them all; the ranks of a torchrun job claim them one at a time
(runner/claims.py), so each rank runs part of the share and they finish together.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monkeyeval.core.errors import RunFailure
from monkeyeval.core.types import PredictionRecord
from monkeyeval.models.base import DecodeSettings, ModelAdapter
from monkeyeval.runner import autobatch, claims, schedule
from monkeyeval.runner.data import WorkItem, cut
from monkeyeval.runner.distributed import DistContext, gather_from_all
from monkeyeval.runner.engine import generate_batch
from monkeyeval.runner.parts import PartAppender, PartId, done_marker, mark_done, part_path, write_meta
from monkeyeval.runner.plan import Plan, part_id_for, ranks_with_work
from monkeyeval.runner.progress import Progress
from monkeyeval.runner.request import RunRequest
from monkeyeval.runner.throughput import ThroughputMeter
from monkeyeval.runner.workers import BatchOrder, BatchPreparer

WAIT_NOTE_EVERY_S = 60


@dataclass
class ShareRun:
    """What generating a share needs besides its batches: the model, settings, part file and reporting."""

    adapter: ModelAdapter
    settings: DecodeSettings
    request: RunRequest
    run_dir: Path
    part: Path
    meta: dict[str, Any]
    device: str
    preparer: BatchPreparer  # DataLoader workers preparing images, kept across the run's tasks
    label: str
    say: Callable[[str], None] | None
    meter: ThroughputMeter
    meta_written: bool = False  # a claiming `auto` rank writes its meta once it found its batch size

    def write_meta(self, **changes: Any) -> None:
        """Rewrite the part's meta with `changes` (kept for later writes)."""
        self.meta = {**self.meta, **changes}
        write_meta(self.part, self.meta)
        self.meta_written = True

    def generate(self, batches: Iterator[list[Any]], size: int) -> Iterator[list[PredictionRecord]]:
        """Records of each prepared batch, generated in pieces of at most `size` samples."""
        for prepared in batches:
            for piece in cut(prepared, size):
                yield generate_batch(self.adapter, piece, self.settings, meter=self.meter)

    def search(self, items: list[WorkItem]) -> autobatch.AutoBatch:
        """`--batch-size auto` on `items` (its records are kept); the size found goes into the part's meta."""
        memo, where = autobatch.BatchSizeMemo.for_run(self.run_dir), autobatch.device_label(self.device)
        found = autobatch.find_batch_size(self.adapter, items, self.settings, memo, self.run_dir.name, where)
        self.write_meta(batch_size=found.size)
        self.meter.add_batch(found.records, prefill_tokens=None)
        if self.say is not None:
            self.say(autobatch.describe(found, self.label, where, memo))
        return found


def predict_share(
    run_dir: Path,
    label: str,
    adapter: ModelAdapter,
    work: list[WorkItem],
    settings: DecodeSettings,
    plan: Plan,
    request: RunRequest,
    ctx: DistContext,
    preparer: BatchPreparer,
    device: str = "cpu",
    say: Callable[[str], None] | None = None,
) -> None:
    """Append the predictions of this process's batches of `work` to its part file per batch, then mark it
    done (a rank that gets no batch too: rank 0 waits for every rank's marker).

    `--batch-size auto` first finds the size on this process's first batch, the costliest when sorted
    (`runner.autobatch`; `device` is the device it is remembered for, `say` announces it), and keeps its
    records; claimed batches are of the plan's `claim_size` and run in pieces of the size found.
    """
    if not work:
        return
    shard = request.shard
    path = part_path(run_dir, part_id_for(plan, ctx, shard))
    meta = {
        "rank": ctx.rank if shard is None else shard.index,
        "world_size": ctx.world_size if shard is None else shard.count,
        "batch_size": request.batch_size,
        "attempt": plan.attempt if shard is None else None,
        "sharded_jobs": shard is not None,
    }
    if ctx.world_size > 1:
        label = f"{label} (rank 0 of {ctx.world_size})"
    meter = ThroughputMeter(device=device)
    run = ShareRun(adapter, settings, request, run_dir, path, meta, device, preparer, label, say, meter)
    ordered = schedule.ordered(work, estimated_costs(adapter, work, ctx))
    size = request.batch_size
    claim_size = plan.claim_size or (size if isinstance(size, int) else autobatch.AUTO_START)
    planned = cut(ordered, claim_size)  # identical on every rank
    pool = claims.pool_for(run_dir, plan.attempt, ctx, shard, len(planned))
    if pool is None:
        batches = _all_batches(run, ordered)
        expected = len(work)
    else:
        batches = _claimed_batches(run, planned, BatchOrder(len(planned), pool))
        expected = math.ceil(len(work) / ctx.world_size)  # rank 0's share, roughly: its bar shows its own
    if isinstance(size, int) or pool is None:
        run.write_meta()  # claiming `auto`: once a batch was claimed and its size found (else never)
    progress = Progress(label, expected, enabled=ctx.is_main, already_done=plan.n_done)
    try:
        with PartAppender(path) as writer:
            for records in batches:
                writer.append_many(record.to_json() for record in records)
                progress.advance(len(records), sum(record.error is not None for record in records))
    finally:
        progress.close()
    if run.meta_written:
        run.write_meta(throughput=meter.to_json())  # before the marker: rank 0 merges on it
    mark_done(path)


def estimated_costs(adapter: ModelAdapter, work: list[WorkItem], ctx: DistContext) -> list[int] | None:
    """Every item's cost estimate (None: the adapter gives none), the same list on every rank.

    In a torchrun job each rank estimates every world_size-th item and the ranks gather them: one image
    header read per sample in the whole job instead of one per rank, and a read that fails on one rank
    cannot give that rank other batches than the rest (claims name batches by their position).
    """
    if ctx.world_size == 1:
        return schedule.estimate_costs(adapter, work)
    gathered = gather_from_all(ctx, schedule.estimate_costs(adapter, work[ctx.rank :: ctx.world_size]))
    if gathered is None:  # ranks simulated in one process (no process group): this one estimates them all
        return schedule.estimate_costs(adapter, work)
    if any(part is None for part in gathered):
        return None
    costs = [0] * len(work)
    for rank, part in enumerate(gathered):
        costs[rank :: ctx.world_size] = part
    return costs


def _all_batches(run: ShareRun, items: list[WorkItem]) -> Iterator[list[PredictionRecord]]:
    """A single process: every batch of `items` (already in schedule order); `auto` searches on the first."""
    size, first = run.request.batch_size, []
    if not isinstance(size, int):
        found = run.search(items)
        size, first = found.size, [found.records]
    rest = cut(items[sum(len(records) for records in first) :], size)
    prepared = run.preparer.batches(rest, run.adapter.preprocessor())
    yield from itertools.chain(first, run.generate(prepared, size))


def _claimed_batches(
    run: ShareRun, planned: list[list[WorkItem]], order: BatchOrder
) -> Iterator[list[PredictionRecord]]:
    """The batches this rank claims from `planned`; `auto` searches on the first one it claims."""
    size = run.request.batch_size
    if not isinstance(size, int):
        position = next(order.positions(), None)  # claimed, not yet delivered
        if position is None:
            return  # every batch went to other ranks before this one asked
        found = run.search(planned[position])
        yield found.records
        size, planned[position] = found.size, planned[position][len(found.records) :]
        if not planned[position]:
            order.delivered += 1
    prepared = run.preparer.batches(planned, run.adapter.preprocessor(), order)
    yield from run.generate(prepared, size)


def wait_for_ranks(
    run_dir: Path, plan: Plan, ctx: DistContext, say: Callable[[str], None], stall_timeout_s: float
) -> None:
    """Rank 0: wait for the completion markers of every rank that had work in this attempt.

    The wait is bounded by progress: when no pending rank's part file grows for `stall_timeout_s`, the
    ranks are named as stalled (RunFailure, exit 3); what they finished is saved and a re-run resumes.
    """
    parts = {
        rank: part_path(run_dir, PartId(rank, ctx.world_size, plan.attempt))
        for rank in ranks_with_work(plan, ctx.world_size)
    }
    pending = dict(parts)
    last_note = last_change = time.monotonic()
    last_sizes = _sizes(pending)
    while pending:
        pending = {rank: path for rank, path in pending.items() if not done_marker(path).exists()}
        if not pending:
            return
        now, sizes = time.monotonic(), _sizes(pending)
        if sizes != last_sizes:
            last_change, last_sizes = now, sizes
        elif now - last_change > stall_timeout_s:
            ranks = ", ".join(str(rank) for rank in pending)
            raise RunFailure(
                f"rank(s) {ranks} wrote nothing for {stall_timeout_s:.0f}s and did not finish (dead or hung; "
                "--rank-timeout sets this bound). Finished batches are saved: re-run the same command to "
                "resume."
            )
        if now - last_note > WAIT_NOTE_EVERY_S:
            say(f"waiting for ranks {', '.join(str(r) for r in pending)} to finish")
            last_note = now
        time.sleep(0.1)


def _sizes(parts: dict[int, Path]) -> dict[int, int]:
    return {rank: path.stat().st_size if path.exists() else -1 for rank, path in parts.items()}
