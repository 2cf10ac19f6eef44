"""One `monkeyeval run` invocation: resolve tasks and model, then plan, generate, resume and merge per task.

Flow per task (every rank): load the samples, render prompts, rank 0 (or each `--shard` job) checks the
results folder (fingerprint, resume) and decides the work; rank 0 broadcasts it; every rank predicts its
contiguous slice into its own part file (appended + fsynced per batch) and writes a completion marker;
rank 0 waits for the markers on disk and merges (a `--shard` job merges when it sees every sample done).
Several nodes (torchrun --nnodes) need the results folder on a filesystem every node shares.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from monkeyeval.core.errors import UserError
from monkeyeval.core.types import Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelAdapter
from monkeyeval.results import layout
from monkeyeval.runner.data import WorkItem
from monkeyeval.runner.distributed import DistContext
from monkeyeval.runner.parts import PartId
from monkeyeval.runner.sharding import ShardSpec
from monkeyeval.tasks.config import TaskConfig
from monkeyeval.tasks.dataset import DatasetLoad
from monkeyeval.tasks.prompts import PromptProfile, format_options, get_profile


class RunError(UserError, RuntimeError):
    """A run that cannot go on (the message says what to do)."""


@dataclass(frozen=True)
class RunRequest:
    """Everything `monkeyeval run` was asked to do."""

    tasks: tuple[str, ...]
    checkpoint: str
    family: str | None = None
    batch_size: int = 4
    num_workers: int = 2
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


# ---------------------------------------------------------------- prompt / decoding resolution


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


def select_max_new_tokens(task: TaskConfig, family: str, override: int | None) -> int:
    """--max-new-tokens, else the task's per-family value, else the task's max_new_tokens."""
    if override is not None:
        return override
    return task.family_max_new_tokens.get(family, task.max_new_tokens)


def task_model_options(task: TaskConfig, family: str, cli_options: dict[str, Any]) -> dict[str, Any]:
    """The task's family options with `--model-option` values on top."""
    return {**task.family_options.get(family, {}), **cli_options}


def parse_model_options(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` strings -> dict; values are YAML scalars (true, 3, 0.5, text)."""
    import yaml

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


# ---------------------------------------------------------------- the run


class RunSession:
    """Executes a RunRequest in this process (one rank of a torchrun job, a shard job, or alone)."""

    def __init__(self, request: RunRequest, console: Console, ctx: DistContext | None = None) -> None:
        self.request = request
        self.console = console
        self.ctx = ctx if ctx is not None else DistContext.from_env()
        if request.shard is not None and self.ctx.world_size > 1:
            raise RunError("--shard is for independent jobs; do not combine it with torchrun / --nproc")
        if request.fresh and request.shard is not None:
            raise RunError(
                "--fresh with --shard would let every shard job move the others' work aside; move or delete "
                "the run folder yourself once, then start the shard jobs"
            )
        if request.batch_size < 1:
            raise RunError(f"--batch-size must be at least 1, got {request.batch_size}")
        self._datasets: dict[str, DatasetLoad] = {}

    def say(self, message: str) -> None:
        """Print on rank 0 only."""
        if self.ctx.is_main:
            self.console.print(message, highlight=False, soft_wrap=True)

    def _resolve(self) -> tuple[list[TaskConfig], str, type[ModelAdapter], LoadOptions]:
        """Tasks, family, adapter class and load options of the request."""
        from monkeyeval.models.registry import AdapterRegistry
        from monkeyeval.runner.distributed import pick_device
        from monkeyeval.tasks.registry import TaskRegistry

        request = self.request
        registry = TaskRegistry.discover(request.tasks_dirs, request.data_root)
        tasks = registry.resolve(list(request.tasks))
        self.data_root = registry.data_root.path
        adapters = AdapterRegistry.discover()
        chosen = request.family or adapters.detect(request.checkpoint)
        adapter_cls = adapters.get(chosen)
        family = adapter_cls.family or chosen  # the family name task profiles and options are keyed by
        options = LoadOptions(
            checkpoint=request.checkpoint,
            device=pick_device(request.device, self.ctx),
            dtype=request.dtype,
            trust_remote_code=request.trust_remote_code,
            family_options=dict(request.model_options),
        )
        return tasks, family, adapter_cls, options

    def _load(self, adapter_cls: type[ModelAdapter], family: str, options: LoadOptions) -> ModelAdapter:
        started = time.perf_counter()
        adapter = adapter_cls.load(options)
        self.say(
            f"loaded {family} model {options.checkpoint} on {options.device} in "
            f"{time.perf_counter() - started:.1f}s"
            + (f" (rank 0 of {self.ctx.world_size})" if self.ctx.world_size > 1 else "")
        )
        return adapter

    def execute(self) -> list[TaskOutcome]:
        """Run every requested task; returns what this process finalized."""
        from monkeyeval.runner.distributed import init_process_group, shutdown

        tasks, family, adapter_cls, options = self._resolve()
        if self.request.dry_run:
            return [self.dry_run(task, adapter_cls, family, options) for task in tasks]
        for task in tasks:  # fail on a broken dataset before loading any weights
            self._dataset(task)
        init_process_group(self.ctx, options.device)
        try:
            adapter = self._load(adapter_cls, family, options)
            return [self.run_task(task, adapter, family) for task in tasks]
        finally:
            shutdown(self.ctx)

    def load_for_single_task(self) -> LoadedTask:
        """Model + work items of the request's single task, in this process (check-invariance, bench)."""
        tasks, family, adapter_cls, options = self._resolve()
        if len(tasks) != 1:
            raise RunError(f"expected one task, {self.request.tasks} resolves to {len(tasks)}")
        task = tasks[0]
        adapter = self._load(adapter_cls, family, options)
        adapter.configure_task(task_model_options(task, family, self.request.model_options))
        _samples, items, _profile = self._work_items(task, adapter, family, adapter.default_prompt_profile)
        settings = DecodeSettings(select_max_new_tokens(task, family, self.request.max_new_tokens))
        return LoadedTask(task, family, adapter, items, settings)

    # ------------------------------------------------------------ per task

    def _dataset(self, task: TaskConfig) -> DatasetLoad:
        """The task's samples (read once per session)."""
        from monkeyeval.tasks.dataset import load_samples

        if task.name not in self._datasets:
            self._datasets[task.name] = load_samples(task, limit=self.request.limit)
        return self._datasets[task.name]

    def _work_items(
        self, task: TaskConfig, adapter: ModelAdapter | None, family: str, default_profile: str
    ) -> tuple[list[Sample], list[WorkItem], PromptProfile]:
        loaded = self._dataset(task)
        if loaded.problems:
            shown = "; ".join(f"line {p.line_no}: {p.message}" for p in loaded.problems[:3])
            self.say(
                "[yellow]"
                + escape(f"{task.dataset.jsonl}: skipped {len(loaded.problems)} bad line(s): {shown}")
                + f"{' ...' if len(loaded.problems) > 3 else ''}[/yellow]"
            )
        profile = select_prompt(task, family, default_profile, self.request.prompt_profile)
        items = []
        for sample in loaded.samples:
            prompt = render_prompt(profile, sample)
            model_text = adapter.model_input_text(prompt) if adapter is not None else prompt
            items.append(WorkItem(sample=sample, prompt=prompt, model_text=model_text))
        return loaded.samples, items, profile

    def _plan(
        self,
        run_dir: Path,
        task: TaskConfig,
        family: str,
        adapter: ModelAdapter,
        samples: list[Sample],
        items: list[WorkItem],
        profile: PromptProfile,
        max_new_tokens: int,
    ) -> dict[str, Any]:
        """Rank 0 / shard job: fingerprint check, resume plan, manifest. Returns the plan (or an error)."""
        from monkeyeval.runner.parts import PartsError, next_attempt, write_manifest
        from monkeyeval.runner.resume import ResumeRefused, decoding_fingerprint, move_aside, plan_resume
        from monkeyeval.tasks.dataset import jsonl_sha256

        try:
            if self.request.fresh:
                moved = move_aside(run_dir)
                if moved is not None:
                    self.say(f"--fresh: moved the earlier run to {escape(str(moved))}")
            model_fp = adapter.fingerprint()
            fingerprint = decoding_fingerprint(
                model_fp,
                max_new_tokens,
                {"profile": profile.name, "template": profile.template},
                jsonl_sha256(task.dataset.jsonl),
            )
            plan = plan_resume(run_dir, samples, [item.model_text for item in items], fingerprint)
            write_manifest(
                run_dir,
                {
                    "task": task.name,
                    "model_name": self.model_name,
                    "family": family,
                    "model": model_fp,
                    "decoding": fingerprint,
                    "limit": self.request.limit,
                    "tasks_dirs": [str(Path(d).resolve()) for d in self.request.tasks_dirs],
                    "data_root": str(self.data_root),
                },
            )
            return {"attempt": next_attempt(run_dir), "todo": plan.todo, "n_done": len(plan.done)}
        except (ResumeRefused, PartsError) as exc:
            return {"error": str(exc)}

    @property
    def model_name(self) -> str:
        """The results folder name of the model."""
        return layout.safe_model_name(self.request.model_name or self.request.checkpoint)

    def run_task(self, task: TaskConfig, adapter: ModelAdapter, family: str) -> TaskOutcome:
        """Predict this process's share of `task`, then merge when this process is the one to do it."""
        from monkeyeval.runner.distributed import broadcast_from_main
        from monkeyeval.runner.sharding import contiguous_shard

        request, ctx = self.request, self.ctx
        adapter.configure_task(task_model_options(task, family, request.model_options))
        samples, items, profile = self._work_items(task, adapter, family, adapter.default_prompt_profile)
        max_new_tokens = select_max_new_tokens(task, family, request.max_new_tokens)
        run_dir = layout.run_dir(request.results, self.model_name, task.name)
        plan: dict[str, Any] | None = None
        if ctx.is_main:
            plan = self._plan(run_dir, task, family, adapter, samples, items, profile, max_new_tokens)
        plan = broadcast_from_main(ctx, plan)
        assert plan is not None
        if "error" in plan:
            raise RunError(plan["error"])
        todo: list[int] = plan["todo"]
        if request.shard is not None:
            todo_set = set(todo)
            shard_slice = contiguous_shard(range(len(samples)), request.shard.index, request.shard.count)
            mine = [i for i in shard_slice if i in todo_set]
        else:
            mine = contiguous_shard(todo, ctx.rank, ctx.world_size)
        if ctx.is_main:
            resumed = f", {plan['n_done']} already done" if plan["n_done"] else ""
            where = f" across {ctx.world_size} ranks" if ctx.world_size > 1 else ""
            shard = f" (shard {request.shard.index}/{request.shard.count})" if request.shard else ""
            self.say(
                f"[bold]{task.name}[/bold]{shard}: {len(samples)} samples{resumed}, {len(todo)} to run"
                f"{where}; prompt profile {profile.name}, max_new_tokens {max_new_tokens}, "
                f"batch size {request.batch_size}"
            )
        settings = DecodeSettings(max_new_tokens=max_new_tokens)
        self._predict_share(run_dir, task, adapter, items, mine, settings, plan)
        return self._finish(run_dir, task, samples, plan)

    def _part_id(self, plan: dict[str, Any]) -> PartId:
        if self.request.shard is not None:
            return PartId(self.request.shard.index, self.request.shard.count, None)
        return PartId(self.ctx.rank, self.ctx.world_size, int(plan["attempt"]))

    def _predict_share(
        self,
        run_dir: Path,
        task: TaskConfig,
        adapter: ModelAdapter,
        items: list[WorkItem],
        mine: list[int],
        settings: DecodeSettings,
        plan: dict[str, Any],
    ) -> None:
        from monkeyeval.runner.engine import predict
        from monkeyeval.runner.parts import PartAppender, mark_done, part_path, write_meta
        from monkeyeval.runner.progress import Progress

        if not mine:
            return
        path = part_path(run_dir, self._part_id(plan))
        write_meta(
            path,
            {
                "rank": self.ctx.rank if self.request.shard is None else self.request.shard.index,
                "world_size": self.ctx.world_size if self.request.shard is None else self.request.shard.count,
                "batch_size": self.request.batch_size,
                "attempt": plan.get("attempt") if self.request.shard is None else None,
                "sharded_jobs": self.request.shard is not None,
            },
        )
        label = task.name if self.ctx.world_size == 1 else f"{task.name} (rank 0 of {self.ctx.world_size})"
        progress = Progress(label, len(mine), enabled=self.ctx.is_main, already_done=int(plan["n_done"]))
        try:
            with PartAppender(path) as writer:
                work = [items[i] for i in mine]
                for records in predict(
                    adapter, work, settings, self.request.batch_size, self.request.num_workers
                ):
                    writer.append_many(record.to_json() for record in records)
                    progress.advance(len(records), sum(record.error is not None for record in records))
        finally:
            progress.close()
        mark_done(path)

    def _wait_for_ranks(self, run_dir: Path, plan: dict[str, Any]) -> None:
        """Rank 0: wait for the completion markers of every rank that had work in this attempt."""
        from monkeyeval.runner.parts import done_marker, part_path
        from monkeyeval.runner.sharding import shard_bounds

        n_todo = len(plan["todo"])
        pending = []
        for rank in range(self.ctx.world_size):
            begin, end = shard_bounds(n_todo, rank, self.ctx.world_size)
            if end > begin:
                part = PartId(rank, self.ctx.world_size, int(plan["attempt"]))
                pending.append((rank, done_marker(part_path(run_dir, part))))
        last_note = time.monotonic()
        while pending:
            pending = [(rank, marker) for rank, marker in pending if not marker.exists()]
            if pending:
                if time.monotonic() - last_note > 60:
                    self.say(f"waiting for ranks {', '.join(str(r) for r, _ in pending)} to finish")
                    last_note = time.monotonic()
                time.sleep(0.1)

    def _finish(
        self, run_dir: Path, task: TaskConfig, samples: list[Sample], plan: dict[str, Any]
    ) -> TaskOutcome:
        from monkeyeval.runner.merge import merge_run, missing_indices

        if self.request.shard is not None:
            missing = missing_indices(run_dir, len(samples))
            if missing:
                note = (
                    f"shard {self.request.shard.index}/{self.request.shard.count} done; {len(missing)} "
                    "samples wait for other shards (the last shard to finish merges, or run "
                    f"`monkeyeval merge {run_dir}`)"
                )
                self.say(escape(note))
                return TaskOutcome(task.name, run_dir, None, note)
        elif not self.ctx.is_main:
            return TaskOutcome(task.name, run_dir, None, "merged by rank 0")
        else:
            self._wait_for_ranks(run_dir, plan)
        result = merge_run(run_dir, task, samples, self.model_name)
        return TaskOutcome(task.name, run_dir, result.to_json())

    # ------------------------------------------------------------ dry run

    def dry_run(
        self, task: TaskConfig, adapter_cls: type[ModelAdapter], family: str, options: LoadOptions
    ) -> TaskOutcome:
        """Render every prompt and check every image, loading no weights."""
        from monkeyeval.runner.data import prepare

        samples, items, profile = self._work_items(task, None, family, adapter_cls.default_prompt_profile)
        merged = task_model_options(task, family, options.family_options)
        task_options = replace(options, family_options=merged)
        preprocess = adapter_cls.dry_run_preprocessor(task_options) or open_image
        errors = [(p.item.sample, p.error) for p in (prepare(item, preprocess) for item in items) if p.error]
        max_new_tokens = select_max_new_tokens(task, family, self.request.max_new_tokens)
        self.say(
            f"[bold]{task.name}[/bold] (dry run): {len(samples)} samples, {len(errors)} with image problems; "
            f"prompt profile {profile.name}; max_new_tokens {max_new_tokens}"
        )
        for item in items[:3]:
            self.say(escape(f"  prompt [{item.sample.id}]: {item.prompt!r}"))
        for sample, error in errors[:10]:
            self.say(f"  [red]error[/red] {escape(f'[{sample.id}]: {error}')}")
        run_dir = layout.run_dir(self.request.results, self.model_name, task.name)
        scores = {"n": len(samples), "n_errors": len(errors), "dry_run": True}
        return TaskOutcome(task.name, run_dir, scores, "dry run: nothing written")


def open_image(sample: Sample, prompt: str) -> None:
    """The dry run's default check: the image exists inside the root and decodes."""
    from PIL import Image

    if sample.image_path is None:
        raise FileNotFoundError(sample.error or "no image path")
    with Image.open(sample.image_path) as image:
        image.load()
