"""A task's work plan: what is left to predict in this attempt, and which part of it is this process's.

Rank 0 (or each `--shard` job) checks the results folder (fingerprint, resume), writes the manifest and
makes the `Plan`; rank 0 broadcasts it (or the `PlanRefused` reason, so every rank stops with the same
message). The ranks of one job share the plan's todo list: each forms the same batches from it and claims them
one at a time (runner/schedule.py, runner/claims.py). A `--shard` job takes a static contiguous slice of the
dataset (claims.py says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monkeyeval.results.pair import folder_pair_problem
from monkeyeval.runner import autobatch
from monkeyeval.runner.distributed import DistContext
from monkeyeval.runner.lock import RunLock
from monkeyeval.runner.parts import PartId, PartsError, next_attempt, read_manifest, write_manifest
from monkeyeval.runner.request import (
    Resolved,
    RunRequest,
    TaskWork,
    select_max_new_tokens,
    select_prompt,
)
from monkeyeval.runner.resume import (
    ResumeRefused,
    decoding_fingerprint,
    plan_resume,
    prompt_fingerprint,
    refuse_known_changes,
)
from monkeyeval.runner.sharding import ShardSpec, contiguous_shard
from monkeyeval.tasks.config import TaskConfig
from monkeyeval.tasks.dataset import jsonl_sha256


@dataclass(frozen=True)
class Plan:
    """This attempt's number, the dataset indices still to predict, and how many were already done."""

    attempt: int
    todo: tuple[int, ...]
    n_done: int
    n_retried: int = 0  # of `todo`: samples whose earlier generation failed
    stale_result: str | None = None  # why the folder's scores.json/predictions.jsonl pair is not valid
    claim_size: int | None = None  # samples per claimed batch (`claim_size_for`); the same on every rank


@dataclass(frozen=True)
class PlanRefused:
    """Why the task cannot run (a changed fingerprint, unreadable parts); every rank raises it."""

    reason: str


def make_plan(
    run_dir: Path,
    task: TaskConfig,
    work: TaskWork,
    model_fingerprint: dict[str, Any],
    request: RunRequest,
    resolved: Resolved,
    model_name: str,
) -> Plan | PlanRefused:
    """Check the earlier run (if any), write run.json, and say what is left to predict."""
    try:
        prompt = prompt_fingerprint(work.profile)
        dataset_sha256 = jsonl_sha256(task.dataset.jsonl)
        fingerprint = decoding_fingerprint(model_fingerprint, work.max_new_tokens, prompt, dataset_sha256)
        samples = [item.sample for item in work.items]
        model_texts = [item.model_text for item in work.items]
        resume = plan_resume(run_dir, samples, model_texts, fingerprint, not request.keep_errors)
        manifest = {
            "task": task.name,
            "model_name": model_name,
            "family": resolved.family,
            "model": model_fingerprint,
            "decoding": fingerprint,
            "limit": request.limit,
            "predict_only": request.predict_only,
            "tasks_dirs": [str(Path(d).resolve()) for d in request.tasks_dirs],
            "data_root": str(resolved.data_root),
        }
        write_manifest(run_dir, manifest)
        stale = folder_pair_problem(run_dir)
        claim_size = claim_size_for(request.batch_size, run_dir, resolved.options.device)
        todo = tuple(resume.todo)
        return Plan(next_attempt(run_dir), todo, len(resume.done), resume.n_retried, stale, claim_size)
    except (ResumeRefused, PartsError) as exc:
        return PlanRefused(str(exc))


def refuse_changed_settings(run_dir: Path, task: TaskConfig, resolved: Resolved, request: RunRequest) -> None:
    """Before any weights load: ResumeRefused when `run_dir`'s earlier run used other settings that are
    known without the model (max_new_tokens, prompt, dataset, family and its options)."""
    manifest = None if request.fresh else read_manifest(run_dir)
    if manifest is None:
        return  # no earlier run to compare with (nothing is hashed)
    family = resolved.family
    profile = select_prompt(task, family, resolved.adapter_cls.default_prompt_profile, request.prompt_profile)
    model: dict[str, Any] = {"family_options": dict(request.model_options)}
    if resolved.adapter_cls.family:
        model["family"] = resolved.adapter_cls.family
    refuse_known_changes(
        run_dir,
        manifest.get("decoding", {}),
        {
            "max_new_tokens": select_max_new_tokens(task, family, request.max_new_tokens),
            "prompt": prompt_fingerprint(profile),
            "jsonl_sha256": jsonl_sha256(task.dataset.jsonl),
            "model": model,
        },
    )


def lock_for(run_dir: Path, shard: ShardSpec | None) -> RunLock:
    """The run folder's lock for a whole run, or for one `--shard` job (shard jobs share the folder)."""
    if shard is None:
        return RunLock(run_dir)
    return RunLock(run_dir, f"shard{shard.index:03d}-of{shard.count:03d}")


def claim_size_for(batch_size: int | str, run_dir: Path, device: str) -> int:
    """Samples per claimed batch: `--batch-size N`, or for `auto` the size rank 0's search starts from
    (each rank then generates its claimed batches in pieces of the size its own search found)."""
    if isinstance(batch_size, int):
        return batch_size
    remembered = autobatch.BatchSizeMemo.for_run(run_dir).recall(run_dir.name, autobatch.device_label(device))
    return remembered if remembered is not None else autobatch.AUTO_START


def share_of(plan: Plan, n_samples: int, ctx: DistContext, shard: ShardSpec | None) -> list[int]:
    """The dataset indices this process's batches come from: the whole todo list, whose batches the ranks
    claim (`runner.claims`; a single process runs them all), or a `--shard` job's static slice of the
    dataset, still to do (shard jobs may never overlap in time, so they cannot share claims)."""
    del ctx  # every rank forms the same batches and claims its own
    if shard is None:
        return list(plan.todo)
    todo = set(plan.todo)
    return [i for i in contiguous_shard(range(n_samples), shard.index, shard.count) if i in todo]


def part_id_for(plan: Plan, ctx: DistContext, shard: ShardSpec | None) -> PartId:
    """The part file this process appends to: per shard, or per rank and attempt."""
    if shard is not None:
        return PartId(shard.index, shard.count, None)
    return PartId(ctx.rank, ctx.world_size, plan.attempt)


def ranks_with_work(plan: Plan, world_size: int) -> list[int]:
    """The ranks rank 0 waits for: all of them when anything is to do (a rank that claims no batch still
    writes its part file, meta and done marker), none otherwise."""
    return list(range(world_size)) if plan.todo else []


def describe(task: str, plan: Plan, ctx: DistContext, request: RunRequest, work: TaskWork) -> str:
    """The line announcing a task's plan (rich markup)."""
    resumed = f", {plan.n_done} already done" if plan.n_done else ""
    if plan.n_retried:
        resumed += f", {plan.n_retried} failed earlier and are retried (--keep-errors keeps them)"
    if plan.stale_result:
        resumed += "; the earlier scores.json does not match its predictions.jsonl and is rewritten"
    where = f" across {ctx.world_size} ranks (claiming batches)" if ctx.world_size > 1 else ""
    shard = f" (shard {request.shard.index}/{request.shard.count})" if request.shard else ""
    return (
        f"[bold]{task}[/bold]{shard}: {len(work.items)} samples{resumed}, {len(plan.todo)} to run{where}; "
        f"prompt profile {work.profile.name}, max_new_tokens {work.max_new_tokens}, "
        f"batch size {request.batch_size}"
        + " (the largest that fits, found on the first batch)"
        * (request.batch_size == "auto")
    )
