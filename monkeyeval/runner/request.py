"""What `monkeyeval run` was asked (`RunRequest`) and how it resolves per task: prompt, budget, options.

Precedence is decided here once: the command line beats the task YAML's per-family values, which beat the
task's (or the adapter's) defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from monkeyeval.core.errors import UserError
from monkeyeval.core.types import Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelAdapter
from monkeyeval.models.registry import AdapterRegistry
from monkeyeval.runner.data import DEFAULT_PREPROCESS_TIMEOUT_S, WorkItem
from monkeyeval.runner.distributed import DistContext, pick_device
from monkeyeval.runner.sharding import ShardSpec
from monkeyeval.tasks.config import TaskConfig
from monkeyeval.tasks.prompts import PromptProfile, format_options, get_profile
from monkeyeval.tasks.registry import TaskRegistry


class RunError(UserError, RuntimeError):
    """A run that cannot go on (the message says what to do)."""


@dataclass(frozen=True)
class RunRequest:
    """Everything `monkeyeval run` was asked to do."""

    tasks: tuple[str, ...]
    checkpoint: str
    family: str | None = None
    batch_size: int | Literal["auto"] = 4  # "auto": runner.autobatch finds the largest that fits
    num_workers: int | None = None  # None: runner.data.default_num_workers for the device
    limit: int | None = None
    dry_run: bool = False
    device: str = "auto"
    dtype: str = "auto"
    results: Path = Path("results")
    model_name: str | None = None
    shard: ShardSpec | None = None
    prompt_profile: str | None = None
    max_new_tokens: int | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    trust_remote_code: bool = False
    data_root: Path | None = None
    tasks_dirs: tuple[Path, ...] = ()
    fresh: bool = False
    keep_errors: bool = False  # resume keeps failed generations instead of retrying them
    rank_timeout_s: float = 1800.0  # rank 0 gives up on a rank whose part file stops growing this long
    max_input_tokens: int | None = None  # longer prompts are per-sample errors (default: the model's context)
    preprocess_timeout_s: float = DEFAULT_PREPROCESS_TIMEOUT_S  # a worker batch taking longer is retried
    predict_only: bool = False  # generate for every sample (answers or not), score nothing


def check_request(request: RunRequest, ctx: DistContext) -> None:
    """Combinations of flags that cannot work; RunError says why."""
    if request.shard is not None and ctx.world_size > 1:
        raise RunError("--shard is for independent jobs; do not combine it with torchrun / --nproc")
    if request.fresh and request.shard is not None:
        raise RunError(
            "--fresh with --shard would let every shard job move the others' work aside; move or delete "
            "the run folder yourself once, then start the shard jobs"
        )
    size = request.batch_size
    if size != "auto" and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise RunError(f"--batch-size must be a whole number of at least 1 or 'auto', got {size!r}")


@dataclass
class TaskOutcome:
    """What happened to one task in this process (scores when this process merged it)."""

    task: str
    run_dir: Path
    scores: dict[str, Any] | None = None
    note: str = ""


@dataclass
class LoadedTask:
    """A loaded model and one task's work items (for in-process checks and benchmarks)."""

    task: TaskConfig
    family: str
    adapter: ModelAdapter
    items: list[WorkItem]
    settings: DecodeSettings
    device: str = "cpu"


@dataclass(frozen=True)
class Resolved:
    """The request resolved: its tasks, the model family and adapter class, load options, the data root."""

    tasks: list[TaskConfig]
    family: str
    adapter_cls: type[ModelAdapter]
    options: LoadOptions
    data_root: Path


def resolve_request(request: RunRequest, ctx: DistContext) -> Resolved:
    """Find the tasks and the model family (named, or detected from config.json); build the load options."""
    registry = TaskRegistry.discover(request.tasks_dirs, request.data_root)
    adapters = AdapterRegistry.discover()
    chosen = request.family or adapters.detect(request.checkpoint)
    adapter_cls = adapters.get(chosen)
    options = LoadOptions(
        checkpoint=request.checkpoint,
        device=pick_device(request.device, ctx) if adapter_cls.runs_a_model else "cpu",
        dtype=request.dtype,
        trust_remote_code=request.trust_remote_code,
        family_options=dict(request.model_options),
    )
    family = adapter_cls.family or chosen  # the name task profiles and options are keyed by
    tasks = registry.resolve(list(request.tasks))
    return Resolved(tasks, family, adapter_cls, options, registry.data_root.path)


def select_prompt(task: TaskConfig, family: str, default_profile: str, override: str | None) -> PromptProfile:
    """--prompt-profile, else the task's profile for the family, else the adapter's, else task.prompt."""
    name = override or task.profiles.get(family) or default_profile
    if name:
        return get_profile(name)
    return PromptProfile(f"task:{task.name}", task.prompt, f"the prompt of task {task.name} ({task.source})")


def render_prompt(profile: PromptProfile, sample: Sample) -> str:
    """The rendered prompt of one sample (question, verbatim image field, lettered options)."""
    return profile.render(
        question=sample.question, image=sample.image, options=format_options(sample.extra.get("options"))
    )


def work_items(
    samples: Sequence[Sample], profile: PromptProfile, adapter: ModelAdapter | None
) -> list[WorkItem]:
    """Each sample with its rendered prompt and the exact text the model sees (the prompt without a model)."""
    items = []
    for sample in samples:
        prompt = render_prompt(profile, sample)
        model_text = adapter.model_input_text(prompt) if adapter is not None else prompt
        items.append(WorkItem(sample=sample, prompt=prompt, model_text=model_text))
    return items


def select_max_new_tokens(task: TaskConfig, family: str, override: int | None) -> int:
    """--max-new-tokens, else the task's per-family value, else the task's max_new_tokens."""
    if override is not None:
        return override
    return task.family_max_new_tokens.get(family, task.max_new_tokens)


def task_model_options(task: TaskConfig, family: str, cli_options: dict[str, Any]) -> dict[str, Any]:
    """The task's family options with `--model-option` values on top."""
    return {**task.family_options.get(family, {}), **cli_options}


def parse_batch_size(text: str) -> int | Literal["auto"]:
    """`--batch-size` text -> a positive int or "auto" (RunError otherwise)."""
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise RunError(f"--batch-size {text!r}: give a whole number of at least 1, or auto")


def parse_model_options(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` strings -> dict; values are YAML scalars (true, 3, 0.5, text)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise RunError(f"--model-option {pair!r}: expected key=value, e.g. --model-option tiles=OCRBench")
        try:
            options[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            options[key.strip()] = value
    return options


@dataclass(frozen=True)
class TaskWork:
    """One task ready to run on a configured adapter: its prompt profile, work items and token budget."""

    profile: PromptProfile
    items: list[WorkItem]
    max_new_tokens: int


def prepare_task(
    task: TaskConfig, family: str, adapter: ModelAdapter, samples: Sequence[Sample], request: RunRequest
) -> TaskWork:
    """Configure the adapter for `task` (merged family options) and render every sample's prompt."""
    adapter.configure_task(task_model_options(task, family, request.model_options))
    profile = select_prompt(task, family, adapter.default_prompt_profile, request.prompt_profile)
    budget = select_max_new_tokens(task, family, request.max_new_tokens)
    return TaskWork(profile, work_items(samples, profile, adapter), budget)
