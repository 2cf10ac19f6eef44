"""`run --dry-run`: render every prompt, check every image with the family's real worker step; no weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PIL import Image
from rich.markup import escape

from monkeyeval.core.images import require_regular_file
from monkeyeval.core.types import Sample
from monkeyeval.models.base import LoadOptions, ModelAdapter
from monkeyeval.runner.data import WorkItem, prepare
from monkeyeval.runner.request import (
    Resolved,
    RunRequest,
    TaskOutcome,
    select_max_new_tokens,
    select_prompt,
    task_model_options,
    work_items,
)
from monkeyeval.tasks.config import TaskConfig
from monkeyeval.tasks.prompts import PromptProfile


def dry_run_task(
    task: TaskConfig, samples: list[Sample], resolved: Resolved, request: RunRequest, run_dir: Path
) -> tuple[TaskOutcome, list[str]]:
    """The dry run of one task: its outcome (n, n_errors) and the lines to print."""
    family, adapter_cls = resolved.family, resolved.adapter_cls
    profile = select_prompt(task, family, adapter_cls.default_prompt_profile, request.prompt_profile)
    items = work_items(samples, profile, None)
    merged = task_model_options(task, family, resolved.options.family_options)
    errors = image_problems(items, adapter_cls, replace(resolved.options, family_options=merged))
    budget = select_max_new_tokens(task, family, request.max_new_tokens)
    scores = {"n": len(items), "n_errors": len(errors), "dry_run": True}
    outcome = TaskOutcome(task.name, run_dir, scores, "dry run: nothing written")
    return outcome, dry_run_report(task.name, items, errors, profile, budget)


def image_problems(
    items: list[WorkItem], adapter_cls: type[ModelAdapter], options: LoadOptions
) -> list[tuple[Sample, str]]:
    """(sample, error) for every item whose image the family's preprocessing (or a plain decode) rejects."""
    preprocess = adapter_cls.dry_run_preprocessor(options) or open_image
    prepared = (prepare(item, preprocess) for item in items)
    return [(p.item.sample, p.error) for p in prepared if p.error]


def dry_run_report(
    task_name: str,
    items: list[WorkItem],
    errors: list[tuple[Sample, str]],
    profile: PromptProfile,
    budget: int,
) -> list[str]:
    """The lines the dry run prints (rich markup, sample text escaped)."""
    lines = [
        f"[bold]{task_name}[/bold] (dry run): {len(items)} samples, {len(errors)} with image problems; "
        f"prompt profile {profile.name}; max_new_tokens {budget}"
    ]
    lines += [escape(f"  prompt [{item.sample.id}]: {item.prompt!r}") for item in items[:3]]
    lines += [f"  [red]error[/red] {escape(f'[{sample.id}]: {error}')}" for sample, error in errors[:10]]
    return lines


def open_image(sample: Sample, prompt: str) -> None:
    """The dry run's default check: the image exists inside the root and decodes."""
    del prompt
    if sample.image_path is None:
        raise FileNotFoundError(sample.error or "no image path")
    require_regular_file(sample.image_path)
    with Image.open(sample.image_path) as image:
        image.load()
