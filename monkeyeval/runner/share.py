"""This process's share of a task: predict it into its own part file, and (rank 0) wait for the others."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

from monkeyeval.core.errors import RunFailure
from monkeyeval.models.base import DecodeSettings, ModelAdapter
from monkeyeval.runner import autobatch
from monkeyeval.runner.data import WorkItem, worker_count
from monkeyeval.runner.distributed import DistContext
from monkeyeval.runner.engine import predict
from monkeyeval.runner.parts import PartAppender, PartId, done_marker, mark_done, part_path, write_meta
from monkeyeval.runner.plan import Plan, part_id_for, ranks_with_work
from monkeyeval.runner.progress import Progress
from monkeyeval.runner.request import RunRequest
from monkeyeval.runner.throughput import ThroughputMeter

WAIT_NOTE_EVERY_S = 60


def predict_share(
    run_dir: Path,
    label: str,
    adapter: ModelAdapter,
    work: list[WorkItem],
    settings: DecodeSettings,
    plan: Plan,
    request: RunRequest,
    ctx: DistContext,
    device: str = "cpu",
    say: Callable[[str], None] | None = None,
) -> None:
    """Append the predictions of `work` to this process's part file per batch, then mark it done.

    `--batch-size auto` first finds the size on the share's first batch (`runner.autobatch`; `device` is
    the device it is remembered for, `say` announces it) and keeps that batch's records.
    """
    if not work:
        return
    path = part_path(run_dir, part_id_for(plan, ctx, request.shard))
    shard = request.shard
    meta = {
        "rank": ctx.rank if shard is None else shard.index,
        "world_size": ctx.world_size if shard is None else shard.count,
        "batch_size": request.batch_size,
        "attempt": plan.attempt if shard is None else None,
        "sharded_jobs": shard is not None,
    }
    write_meta(path, meta)
    if ctx.world_size > 1:
        label = f"{label} (rank 0 of {ctx.world_size})"
    progress = Progress(label, len(work), enabled=ctx.is_main, already_done=plan.n_done)
    meter = ThroughputMeter(device=device)
    try:
        with PartAppender(path) as writer:
            batch_size, first = request.batch_size, []
            if not isinstance(batch_size, int):  # "auto": the search's batch is the first batch
                memo, where = autobatch.BatchSizeMemo.for_run(run_dir), autobatch.device_label(device)
                found = autobatch.find_batch_size(adapter, work, settings, memo, run_dir.name, where)
                meta = {**meta, "batch_size": found.size}
                write_meta(path, meta)
                meter.add_batch(found.records, prefill_tokens=None)
                if say is not None:
                    say(autobatch.describe(found, label, where, memo))
                batch_size, first = found.size, [found.records]
            rest = work[sum(len(records) for records in first) :]
            workers = worker_count(request.num_workers, device, ctx.local_world_size)
            batches = predict(
                adapter,
                rest,
                settings,
                batch_size,
                workers,
                preprocess_timeout_s=request.preprocess_timeout_s,
                meter=meter,
            )
            for records in itertools.chain(first, batches):
                writer.append_many(record.to_json() for record in records)
                progress.advance(len(records), sum(record.error is not None for record in records))
    finally:
        progress.close()
    write_meta(path, {**meta, "throughput": meter.to_json()})  # before the marker: rank 0 merges on it
    mark_done(path)


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
