"""The Python API: `evaluate` runs what `monkeyeval run` runs; `load_results` reads a results tree back.

Both give the same `TaskResult` objects, built from the scores.json each task wrote (read with the one
reader, `monkeyeval.results.reader`). Heavy modules (torch, pandas, the runner) load only when called.
"""

from __future__ import annotations

import contextlib
import io
import os
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, Union, get_args, get_origin, get_type_hints

from monkeyeval.core.errors import BadValue
from monkeyeval.results.schema import CategoryScore, MetricScore, RunResult

if TYPE_CHECKING:
    import pandas as pd

    from monkeyeval.report.leaderboard import Leaderboard
    from monkeyeval.results.predict_only import PredictOnlyRun
    from monkeyeval.results.tree import LoadProblem, ResultsTree
    from monkeyeval.runner.request import RunRequest, TaskOutcome

PathLike: TypeAlias = "str | os.PathLike[str]"
_FIXED_FIELDS = ("tasks", "checkpoint")  # positional arguments of `evaluate`, not run options


@dataclass(frozen=True)
class TaskResult:
    """One scored (model, task) run, as its scores.json holds it (`score`/`ci95`: the primary metric)."""

    task: str
    model: str
    metric: str
    aggregation: str
    metric_version: str
    score: float
    ci95: tuple[float, float] | None
    metrics: Mapping[str, MetricScore]
    n: int
    n_scored: int
    n_errors: int
    n_empty: int
    n_truncated: int
    n_missing: int
    n_skipped_lines: int
    limit: int | None
    groups: tuple[str, ...]
    breakdown: tuple[CategoryScore, ...]
    fingerprint: Mapping[str, Any]
    created: str
    run_dir: Path
    scores_path: Path
    predictions_path: Path

    @classmethod
    def from_run(cls, run: RunResult) -> TaskResult:
        """The API view of a validated scores.json."""
        values = {f.name: getattr(run, f.name) for f in fields(cls) if f.name != "scores_path"}
        return cls(**values, scores_path=run.path)  # every other field has RunResult's name and value

    def to_row(self) -> dict[str, Any]:
        """One frame row: every field (`metrics` as name -> score), then `ci95_low` and `ci95_high`."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["metrics"] = {name: metric.score for name, metric in self.metrics.items()}
        row["ci95_low"], row["ci95_high"] = self.ci95 if self.ci95 is not None else (None, None)
        return row


FRAME_COLUMNS = (*(f.name for f in fields(TaskResult)), "ci95_low", "ci95_high")
"""The columns of `Evaluation.to_frame()` and `Results.to_frame()`."""


@dataclass(frozen=True)
class UnscoredTask:
    """A task this call ran without writing scores.json: a dry run, a `predict_only` run, a shard waiting
    for the others, or a torchrun rank other than 0 (`note` says which). `n`/`n_errors`: the dry run's
    sample and image-problem counts, or the predict-only run's samples and errors (None otherwise)."""

    task: str
    run_dir: Path
    note: str
    dry_run: bool = False
    predict_only: bool = False
    n: int | None = None
    n_errors: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate` did: the scored tasks, the tasks left unscored, and the run's captured log.

    `results_dir` is the results root (pass it to `load_results`); each task's files are in its `run_dir`.
    """

    model_name: str
    results_dir: Path
    tasks: Mapping[str, TaskResult]
    unscored: Mapping[str, UnscoredTask] = field(default_factory=dict)
    dry_run: bool = False
    log: str = field(default="", repr=False, compare=False)

    def __getitem__(self, task: str) -> TaskResult:
        if task in self.tasks:
            return self.tasks[task]
        if task in self.unscored:
            raise KeyError(f"task {task!r} has no scores: {self.unscored[task].note}")
        raise KeyError(f"task {task!r} was not run; tasks: {', '.join([*self.tasks, *self.unscored])}")

    def __iter__(self) -> Iterator[TaskResult]:
        return iter(self.tasks.values())

    def __len__(self) -> int:
        return len(self.tasks)

    def to_frame(self) -> pd.DataFrame:
        """One row per scored task (columns: `FRAME_COLUMNS`)."""
        return _frame(self.tasks.values())


@dataclass(frozen=True)
class Results:
    """Every valid scored run under a results root, the files that were skipped (`problems`), and the
    `run --predict-only` runs (`predict_only`: predictions without scores)."""

    root: Path
    runs: tuple[TaskResult, ...]
    problems: tuple[LoadProblem, ...] = ()
    inconsistent: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (model, task) -> why
    predict_only: tuple[PredictOnlyRun, ...] = ()
    tree: ResultsTree | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_tree(cls, tree: ResultsTree) -> Results:
        """Wrap a loaded `monkeyeval.results.tree.ResultsTree`."""
        runs = tuple(TaskResult.from_run(run) for run in tree.runs)
        unscored = tuple(tree.predict_only)
        return cls(tree.root, runs, tuple(tree.problems), dict(tree.inconsistent), unscored, tree)

    @property
    def models(self) -> list[str]:
        """Model names, sorted."""
        return sorted({run.model for run in self.runs})

    @property
    def task_names(self) -> list[str]:
        """Task names, sorted."""
        return sorted({run.task for run in self.runs})

    def get(self, model: str, task: str) -> TaskResult | None:
        """The run of (model, task), or None."""
        return next((run for run in self.runs if run.model == model and run.task == task), None)

    def __iter__(self) -> Iterator[TaskResult]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def to_frame(self) -> pd.DataFrame:
        """One row per (model, task) (columns: `FRAME_COLUMNS`)."""
        return _frame(self.runs)

    def leaderboard(self, groups: Sequence[str] = ()) -> Leaderboard:
        """The report's leaderboard (task and group frames); `groups` keeps only those groups and their
        tasks (`ReportError`, a UserError, for an unknown group)."""
        from monkeyeval.report.leaderboard import build_leaderboard
        from monkeyeval.results.tree import load_results as load_tree

        return build_leaderboard(self.tree if self.tree is not None else load_tree(self.root), groups)

    def group_frame(self, groups: Sequence[str] = ()) -> pd.DataFrame:
        """One row per (model, group): macro and micro means, completeness (`monkeyeval.report.groups`)."""
        return self.leaderboard(groups).groups


def evaluate(
    tasks: str | Sequence[str], checkpoint: PathLike, *, progress: bool = False, **run_options: Any
) -> Evaluation:
    """Run `tasks` through `checkpoint` exactly as `monkeyeval run` does, and return the scores.

    `tasks`: a task or group name, a comma list (`"demo,ocrbench"`) or a sequence of them. `checkpoint`: a
    local folder, hub id, predictions .jsonl (replay) or `"demo"`. `run_options` are the fields of
    `monkeyeval.runner.request.RunRequest` (batch_size (an int or "auto"), limit, device, dtype, results,
    model_name, family, num_workers, shard ("i/N" or ShardSpec), model_options (dict), data_root, tasks_dirs,
    fresh, dry_run, predict_only, ...); paths may be str or Path. Calling again resumes, like the CLI. There
    is no `nproc`: for several processes start your script with torchrun (each rank calls `evaluate`; rank 0
    gets the scores) or use `monkeyeval run --nproc N`.

    Output is quiet: what the CLI prints on stderr (sys.stderr is redirected while it runs) is kept in
    `Evaluation.log`; `progress=True` prints it instead. No summary table is printed.

    Raises `TypeError` for an unknown option; `monkeyeval.core.errors.UserError` (bad input: unknown task,
    bad option value, changed settings, a locked run), `IncompleteResults` (a run that could not be scored)
    and `RunFailure` (a rank died, an I/O error) as the CLI does; it never exits the interpreter.
    """
    from rich.console import Console

    from monkeyeval.core.lifeline import die_with_launcher
    from monkeyeval.runner.distributed import DistContext
    from monkeyeval.runner.session import RunSession

    request = build_request(tasks, checkpoint, run_options)
    if DistContext.from_env().launched:
        die_with_launcher()  # as `monkeyeval run` does in a torchrun worker
    log = io.StringIO()
    if progress:
        session = RunSession(request, Console(stderr=True))
        outcomes = session.execute()
    else:
        with contextlib.redirect_stderr(log):
            session = RunSession(request, Console(file=log, width=140, color_system=None))
            outcomes = session.execute()
    return _evaluation(session.model_name, request, outcomes, log.getvalue())


def load_results(path: PathLike) -> Results:
    """Every run (scores.json, any depth) under `path`; damaged files are listed in `Results.problems`.

    Raises `monkeyeval.results.schema.ResultsError` (a UserError) when `path` is not a folder.
    """
    from monkeyeval.results.tree import load_results as load_tree

    return Results.from_tree(load_tree(Path(path)))


def run_option_names() -> tuple[str, ...]:
    """The keyword options `evaluate` takes (the RunRequest fields other than tasks and checkpoint)."""
    from monkeyeval.runner.request import RunRequest

    return tuple(f.name for f in fields(RunRequest) if f.init and f.name not in _FIXED_FIELDS)


def build_request(tasks: str | Sequence[str], checkpoint: PathLike, options: Mapping[str, Any]) -> RunRequest:
    """The RunRequest `evaluate` runs (`demo` checkpoint alias expanded, option values normalized)."""
    from monkeyeval.core.paths import expand_checkpoint_alias
    from monkeyeval.runner.request import RunRequest

    valid = run_option_names()
    if "nproc" in options:
        raise TypeError(
            "evaluate() does not start processes (nproc): launch your script with torchrun, or use "
            "`monkeyeval run --nproc N`"
        )
    unknown = [name for name in options if name not in valid]
    if unknown:
        raise TypeError(
            f"evaluate() got an unexpected keyword argument {unknown[0]!r}; run options are: progress, "
            + ", ".join(valid)
        )
    names = (tasks,) if isinstance(tasks, str) else tuple(tasks)
    if not any(isinstance(name, str) and name.strip() for name in names):
        raise BadValue(f"evaluate(): no task given ({tasks!r}); pass a task or group name, e.g. 'demo'")
    hints = get_type_hints(RunRequest)
    values = {name: _coerce(hints.get(name), value) for name, value in options.items()}
    return RunRequest(tasks=names, checkpoint=expand_checkpoint_alias(os.fspath(checkpoint)), **values)


def _coerce(hint: Any, value: Any) -> Any:
    """`value` in the form a RunRequest field of type `hint` holds (str -> Path, "i/N" -> ShardSpec,
    one path or a sequence -> tuple, mapping -> dict); anything else is passed on unchanged."""
    from monkeyeval.runner.sharding import ShardSpec

    if value is None:
        return None
    union = get_origin(hint) in (Union, types.UnionType)
    for option in get_args(hint) if union else (hint,):
        origin = get_origin(option)
        if option is Path and isinstance(value, (str, os.PathLike)):
            return Path(value)
        if option is ShardSpec and isinstance(value, str):
            return ShardSpec.parse(value)
        if origin is tuple and not isinstance(value, Mapping):
            items = (value,) if isinstance(value, (str, os.PathLike)) else tuple(value)
            args = get_args(option)
            return tuple(Path(item) for item in items) if args and args[0] is Path else items
        if (option is dict or origin is dict) and isinstance(value, Mapping):
            return dict(value)
    return value


def _evaluation(
    model_name: str, request: RunRequest, outcomes: Sequence[TaskOutcome], log: str
) -> Evaluation:
    """Read back the scores.json of every task this process merged; list the others as unscored."""
    from monkeyeval.results.layout import SCORES_FILE
    from monkeyeval.results.reader import read_scores_file

    scored: dict[str, TaskResult] = {}
    unscored: dict[str, UnscoredTask] = {}
    for outcome in outcomes:
        scores = outcome.scores
        if scores is not None and not scores.get("dry_run") and not scores.get("predict_only"):
            scored[outcome.task] = TaskResult.from_run(read_scores_file(outcome.run_dir / SCORES_FILE))
            continue
        counts = scores or {}
        unscored[outcome.task] = UnscoredTask(
            task=outcome.task,
            run_dir=outcome.run_dir,
            note=outcome.note,
            dry_run=bool(counts.get("dry_run")),
            predict_only=bool(counts.get("predict_only")),
            n=counts.get("n"),
            n_errors=counts.get("n_errors"),
        )
    return Evaluation(model_name, Path(request.results), scored, unscored, request.dry_run, log)


def _frame(runs: Iterable[TaskResult]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([run.to_row() for run in runs], columns=list(FRAME_COLUMNS))
