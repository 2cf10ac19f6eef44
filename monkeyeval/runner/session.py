"""One `monkeyeval run` invocation: resolve tasks and model, then per task plan, predict, wait and merge.

Flow per task (every rank): load the samples, render prompts; rank 0 (or each `--shard` job) checks the
results folder and makes the `Plan` (runner/plan.py), which rank 0 broadcasts; every rank predicts its
share into its own part file (runner/share.py) and marks it done; rank 0 waits for the markers on disk and
merges (a `--shard` job merges when it sees every sample done). Several nodes (torchrun --nnodes) need the
results folder on a filesystem every node shares.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from monkeyeval.core.gcpause import startup_collection_paused
from monkeyeval.core.types import Sample
from monkeyeval.models.base import DecodeSettings, ModelAdapter
from monkeyeval.results import layout
from monkeyeval.runner import plan as planning
from monkeyeval.runner.data import worker_count
from monkeyeval.runner.distributed import (
    DistContext,
    broadcast_from_main,
    init_process_group,
    shutdown,
)
from monkeyeval.runner.dry_run import dry_run_task
from monkeyeval.runner.lock import RunLock, RunLocked
from monkeyeval.runner.merge import merge_run, missing_indices
from monkeyeval.runner.request import (
    LoadedTask,
    Resolved,
    RunError,
    RunRequest,
    TaskOutcome,
    TaskWork,
    check_request,
    prepare_task,
    resolve_request,
)
from monkeyeval.runner.resume import move_aside
from monkeyeval.runner.share import predict_share, wait_for_ranks
from monkeyeval.runner.workers import BatchPreparer
from monkeyeval.tasks.config import TaskConfig
from monkeyeval.tasks.datacheck import refuse_missing_files
from monkeyeval.tasks.dataset import DatasetLoad, load_samples


class RunSession:
    """Executes a RunRequest in this process (one rank of a torchrun job, a shard job, or alone)."""

    def __init__(self, request: RunRequest, console: Console, ctx: DistContext | None = None) -> None:
        self.request = request
        self.console = console
        self.ctx = ctx if ctx is not None else DistContext.from_env()
        check_request(request, self.ctx)
        self.model_name = layout.safe_model_name(request.model_name or request.checkpoint)
        self._datasets: dict[str, DatasetLoad] = {}

    def say(self, message: str) -> None:
        """Print on rank 0 only."""
        if self.ctx.is_main:
            self.console.print(message, highlight=False, soft_wrap=True)

    def load(self, resolved: Resolved) -> ModelAdapter:
        """Load the model (timed, announced once)."""
        started = time.perf_counter()
        adapter = resolved.adapter_cls.load(resolved.options)
        where = f" (rank 0 of {self.ctx.world_size})" if self.ctx.world_size > 1 else ""
        self.say(
            f"loaded {resolved.family} model {resolved.options.checkpoint} on {resolved.options.device} in "
            f"{time.perf_counter() - started:.1f}s{where}"
        )
        return adapter

    def execute(self) -> list[TaskOutcome]:
        """Run every requested task; returns what this process finalized."""
        with startup_collection_paused():
            resolved = resolve_request(self.request, self.ctx)
        if len(resolved.tasks) > 1:  # a group: name every missing file at once, not the first one only
            refuse_missing_files(resolved.tasks, resolved.data_root)
        if self.request.dry_run:
            return [self.dry_run(task, resolved) for task in resolved.tasks]
        for task in resolved.tasks:  # fail on a broken dataset or changed settings before loading weights
            self.dataset(task, resolve_images=resolved.adapter_cls.runs_a_model)
            run_dir = layout.run_dir(self.request.results, self.model_name, task.name)
            if self.ctx.is_main:  # the other ranks would see rank 0's own lock
                planning.lock_for(run_dir, self.request.shard).check_free()
            planning.refuse_changed_settings(run_dir, task, resolved, self.request)
        init_process_group(self.ctx, resolved.options.device)
        try:
            with startup_collection_paused():
                adapter = self.load(resolved)
            with self.preparer_for(resolved) as preparer:
                return [self.run_task(task, adapter, resolved, preparer) for task in resolved.tasks]
        finally:
            shutdown(self.ctx)

    def preparer_for(self, resolved: Resolved) -> BatchPreparer:
        """The image workers of this process, kept from task to task while the model's preprocessing stays
        the same (`--num-workers`, else the device's default)."""
        workers = worker_count(self.request.num_workers, resolved.options.device, self.ctx.local_world_size)
        return BatchPreparer(workers, self.request.preprocess_timeout_s)

    def load_for_single_task(self) -> LoadedTask:
        """Model + work items of the request's single task, in this process (check-invariance, bench)."""
        with startup_collection_paused():
            resolved = resolve_request(self.request, self.ctx)
            if len(resolved.tasks) != 1:
                raise RunError(f"expected one task, {self.request.tasks} resolves to {len(resolved.tasks)}")
            task, family = resolved.tasks[0], resolved.family
            adapter = self.load(resolved)
        work = prepare_task(task, family, adapter, self.dataset(task).samples, self.request)
        settings = DecodeSettings(work.max_new_tokens, max_input_tokens=self.request.max_input_tokens)
        return LoadedTask(task, family, adapter, work.items, settings, resolved.options.device)

    def dataset(self, task: TaskConfig, resolve_images: bool = True) -> DatasetLoad:
        """The task's samples (read once per session; skipped lines announced once)."""
        if task.name not in self._datasets:
            loaded = self._datasets[task.name] = load_samples(
                task,
                limit=self.request.limit,
                require_answers=not self.request.predict_only,
                resolve_images=resolve_images,
            )
            if loaded.problems:
                shown = "; ".join(f"line {p.line_no}: {p.message}" for p in loaded.problems[:3])
                more = " ..." if len(loaded.problems) > 3 else ""
                message = f"{task.dataset.jsonl}: skipped {len(loaded.problems)} bad line(s): {shown}{more}"
                self.say(f"[yellow]{escape(message)}[/yellow]")
        return self._datasets[task.name]

    def run_task(
        self, task: TaskConfig, adapter: ModelAdapter, resolved: Resolved, preparer: BatchPreparer
    ) -> TaskOutcome:
        """Predict this process's share of `task`, then merge when this process is the one to do it."""
        request, ctx = self.request, self.ctx
        samples = self.dataset(task).samples
        work = prepare_task(task, resolved.family, adapter, samples, request)
        run_dir = layout.run_dir(request.results, self.model_name, task.name)
        lock = planning.lock_for(run_dir, request.shard)
        made = self.plan_as_main(run_dir, task, work, adapter, resolved, lock) if ctx.is_main else None
        try:
            plan = broadcast_from_main(ctx, made)
            if isinstance(plan, planning.PlanRefused):
                raise RunError(plan.reason)
            self.say(planning.describe(task.name, plan, ctx, request, work))
            mine = [work.items[i] for i in planning.share_of(plan, len(samples), ctx, request.shard)]
            settings = DecodeSettings(work.max_new_tokens, max_input_tokens=request.max_input_tokens)
            device = resolved.options.device
            predict_share(
                run_dir, task.name, adapter, mine, settings, plan, request, ctx, preparer, device, self.say
            )
            return self.finish(run_dir, task, samples, plan)
        finally:
            lock.release()  # a no-op where this process does not hold it

    def plan_as_main(
        self,
        run_dir: Path,
        task: TaskConfig,
        work: TaskWork,
        adapter: ModelAdapter,
        resolved: Resolved,
        lock: RunLock,
    ) -> planning.Plan | planning.PlanRefused:
        """Rank 0 / shard job: take the folder's lock, apply --fresh, check the earlier run, plan."""
        try:
            lock.acquire()
        except RunLocked as exc:
            return planning.PlanRefused(str(exc))
        self.fresh_start(run_dir)
        fingerprint = adapter.fingerprint()
        return planning.make_plan(run_dir, task, work, fingerprint, self.request, resolved, self.model_name)

    def fresh_start(self, run_dir: Path) -> None:
        """--fresh: move an earlier run of this model/task aside (nothing is deleted)."""
        moved = move_aside(run_dir) if self.request.fresh else None
        if moved is not None:
            self.say(f"--fresh: moved the earlier run to {escape(str(moved))}")

    def finish(
        self, run_dir: Path, task: TaskConfig, samples: list[Sample], plan: planning.Plan
    ) -> TaskOutcome:
        """Merge and score when this process is the one to: rank 0, or the shard job completing the set."""
        shard = self.request.shard
        if shard is not None:
            missing = missing_indices(run_dir, len(samples))
            if missing:
                note = (
                    f"shard {shard.index}/{shard.count} done; {len(missing)} samples wait for other shards "
                    f"(the last shard to finish merges, or run `monkeyeval merge {run_dir}`)"
                )
                self.say(escape(note))
                return TaskOutcome(task.name, run_dir, None, note)
        elif not self.ctx.is_main:
            return TaskOutcome(task.name, run_dir, None, "merged by rank 0")
        else:
            wait_for_ranks(run_dir, plan, self.ctx, self.say, self.request.rank_timeout_s)
        predict_only = self.request.predict_only
        result = merge_run(run_dir, task, self.dataset(task), self.model_name, predict_only=predict_only)
        note = predict_only_note(run_dir) if predict_only else ""
        return TaskOutcome(task.name, run_dir, result.to_json(), note)

    def dry_run(self, task: TaskConfig, resolved: Resolved) -> TaskOutcome:
        """Render every prompt and check every image, loading no weights."""
        run_dir = layout.run_dir(self.request.results, self.model_name, task.name)
        outcome, lines = dry_run_task(task, self.dataset(task).samples, resolved, self.request, run_dir)
        for line in lines:
            self.say(line)
        return outcome


def predict_only_note(run_dir: Path) -> str:
    """What a --predict-only task leaves behind, and how it gets a score."""
    return (
        f"predict-only: predictions in {run_dir / 'predictions.jsonl'}, not scored (score them later with "
        "`monkeyeval score --task TASK FILE` where answers exist)"
    )
