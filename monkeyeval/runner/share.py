"""This process's share of a task: predict it into its own part file, and (rank 0) wait for the others."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from monkeyeval.models.base import DecodeSettings, ModelAdapter
from monkeyeval.runner.data import WorkItem
from monkeyeval.runner.distributed import DistContext
from monkeyeval.runner.engine import predict
from monkeyeval.runner.parts import PartAppender, PartId, done_marker, mark_done, part_path, write_meta
from monkeyeval.runner.plan import Plan, part_id_for, ranks_with_work
from monkeyeval.runner.progress import Progress
from monkeyeval.runner.request import RunRequest

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
) -> None:
    """Append the predictions of `work` to this process's part file per batch, then mark it done."""
    if not work:
        return
    path = part_path(run_dir, part_id_for(plan, ctx, request.shard))
    shard = request.shard
    write_meta(
        path,
        {
            "rank": ctx.rank if shard is None else shard.index,
            "world_size": ctx.world_size if shard is None else shard.count,
            "batch_size": request.batch_size,
            "attempt": plan.attempt if shard is None else None,
            "sharded_jobs": shard is not None,
        },
    )
    if ctx.world_size > 1:
        label = f"{label} (rank 0 of {ctx.world_size})"
    progress = Progress(label, len(work), enabled=ctx.is_main, already_done=plan.n_done)
    try:
        with PartAppender(path) as writer:
            for records in predict(adapter, work, settings, request.batch_size, request.num_workers):
                writer.append_many(record.to_json() for record in records)
                progress.advance(len(records), sum(record.error is not None for record in records))
    finally:
        progress.close()
    mark_done(path)


def wait_for_ranks(run_dir: Path, plan: Plan, ctx: DistContext, say: Callable[[str], None]) -> None:
    """Rank 0: wait for the completion markers of every rank that had work in this attempt."""
    pending = [
        (rank, done_marker(part_path(run_dir, PartId(rank, ctx.world_size, plan.attempt))))
        for rank in ranks_with_work(plan, ctx.world_size)
    ]
    last_note = time.monotonic()
    while pending:
        pending = [(rank, marker) for rank, marker in pending if not marker.exists()]
        if pending:
            if time.monotonic() - last_note > WAIT_NOTE_EVERY_S:
                say(f"waiting for ranks {', '.join(str(r) for r, _ in pending)} to finish")
                last_note = time.monotonic()
            time.sleep(0.1)
