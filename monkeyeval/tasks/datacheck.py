"""Is every file the tasks read where they expect it? All problems at once, never only the first.

Checks per task: the dataset file exists (and matches `dataset.sha256` when the YAML declares one), the image
root is a folder, the VQA annotation file exists when the task names one, and every `sources` file that is
present matches its declared sha256/md5. Used by `monkeyeval data check` and before a multi-task `run`, so
a group run lists every missing file instead of stopping at one; each problem says how to fix it
(`monkeyeval data pull` where the YAML gives `sources`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monkeyeval.tasks.config import DataSource, TaskConfig
from monkeyeval.tasks.dataset import DatasetError, jsonl_sha256
from monkeyeval.tasks.fetch import Digests, file_digests
from monkeyeval.tasks.readers import EMBEDDED_FORMATS, dataset_files, dataset_format


@dataclass(frozen=True)
class FileProblem:
    """One file a task cannot use: which task, what the file is for, where it should be, what is wrong."""

    task: str
    role: str  # "dataset file", "image root", "annotation file" or "source file"
    path: Path
    problem: str
    hint: str = ""  # how to fix it: the pull command, or "fetch by hand"

    def shown_path(self, data_root: Path | None) -> str:
        """The path relative to the data root where it lies inside it, else absolute."""
        if data_root is not None and self.path.is_relative_to(data_root):
            return str(self.path.relative_to(data_root))
        return str(self.path)

    def describe(self, data_root: Path | None) -> str:
        """`task: role path (problem)`."""
        return f"{self.task}: {self.role} {self.shown_path(data_root)} ({self.problem})"


def pull_hint(task: TaskConfig) -> str:
    """How to get a missing file of `task`: `data pull` when its YAML gives sources, else by hand."""
    if task.sources:
        return f"`monkeyeval data pull {task.name}` fetches it"
    if task.sources is None:
        return "the task YAML gives no `sources`: fetch it by hand (tasks/README.md says from where)"
    return "the task fetches nothing: it ships with the task YAML"


def task_file_problems(
    task: TaskConfig, verify_sha256: bool = True, digests: dict[Path, Digests] | None = None
) -> list[FileProblem]:
    """Every file problem of one task (an empty list when it can run).

    With `verify_sha256`, present `sources` files are hashed too (`digests` caches them across tasks).
    """
    spec = task.dataset
    hint = pull_hint(task)
    problems = []
    if not dataset_files(spec.jsonl, dataset_format(spec)):  # a file, or parquet shards
        problems.append(FileProblem(task.name, "dataset file", spec.jsonl, "missing", hint))
    elif verify_sha256 and spec.sha256 is not None:
        actual = jsonl_sha256(spec.jsonl)
        if actual != spec.sha256:
            problem = f"sha256 {actual[:12]}..., the YAML expects {spec.sha256[:12]}...: another version"
            problems.append(FileProblem(task.name, "dataset file", spec.jsonl, problem, hint))
    embedded = dataset_format(spec) in EMBEDDED_FORMATS  # (its images are written under the image root)
    if not embedded and not spec.image_root.is_dir():
        problems.append(FileProblem(task.name, "image root", spec.image_root, "missing folder", hint))
    if spec.annotations is not None and not spec.annotations.is_file():
        problems.append(FileProblem(task.name, "annotation file", spec.annotations, "missing", hint))
    if verify_sha256:
        problems.extend(_source_problems(task, {} if digests is None else digests))
    return problems


def _source_problems(task: TaskConfig, digests: dict[Path, Digests]) -> list[FileProblem]:
    """Present `sources` files (not archives: those are unpacked) whose declared hashes differ."""
    problems = []
    for source in task.sources or ():
        if not _verifiable(task, source) or not source.path.is_file():
            continue
        if source.path not in digests:
            digests[source.path] = file_digests(source.path)
        wrong = digests[source.path].mismatch(source.sha256, source.md5)
        if wrong is not None:
            hint = (
                "fetch the declared version by hand"
                if source.kind == "manual"
                else f"`monkeyeval data pull {task.name}` fetches the declared version"
            )
            problem = f"{wrong} ({source.origin}): another version"
            problems.append(FileProblem(task.name, "source file", source.path, problem, hint))
    return problems


def _verifiable(task: TaskConfig, source: DataSource) -> bool:
    """A plain file with a known hash, not already checked as the task's `dataset.sha256`."""
    if source.unpack or not (source.sha256 or source.md5):
        return False
    return not (source.path == task.dataset.jsonl and task.dataset.sha256 is not None)


def file_problems(tasks: Sequence[TaskConfig], verify_sha256: bool = True) -> list[FileProblem]:
    """Every file problem of every task, in task order."""
    digests: dict[Path, Digests] = {}
    return [problem for task in tasks for problem in task_file_problems(task, verify_sha256, digests)]


def refuse_missing_files(tasks: Sequence[TaskConfig], data_root: Path) -> None:
    """DatasetError listing every file problem of `tasks` (several tasks: a group run), if there is one."""
    problems = file_problems(tasks, verify_sha256=False)  # the loader checks sha256 as it reads each file
    if not problems:
        return
    listed = "\n  ".join(problem.describe(data_root) for problem in problems)
    raise DatasetError(
        f"{len(problems)} data file(s) of {len({p.task for p in problems})} of {len(tasks)} tasks are not in "
        f"place (paths relative to the data root {data_root}):\n  {listed}\n"
        "Set --data-root or MONKEYEVAL_DATA to the folder that holds them, or fetch them with `monkeyeval "
        "data pull TASK_OR_GROUP --data-root DIR` (README: Getting the data); `monkeyeval data check "
        "TASK_OR_GROUP` lists them again."
    )
