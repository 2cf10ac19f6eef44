"""Is every file the tasks read where they expect it? All problems at once, never only the first.

Checks per task: the dataset file exists (and matches `dataset.sha256` when the YAML declares one), the image
root is a folder, and the VQA annotation file exists when the task names one. Used by `monkeyeval data
check` and before a multi-task `run`, so a group run lists every missing file instead of stopping at one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monkeyeval.tasks.config import TaskConfig
from monkeyeval.tasks.dataset import DatasetError, jsonl_sha256


@dataclass(frozen=True)
class FileProblem:
    """One file a task cannot use: which task, what the file is for, where it should be, what is wrong."""

    task: str
    role: str  # "dataset file", "image root" or "annotation file"
    path: Path
    problem: str

    def shown_path(self, data_root: Path | None) -> str:
        """The path relative to the data root where it lies inside it, else absolute."""
        if data_root is not None and self.path.is_relative_to(data_root):
            return str(self.path.relative_to(data_root))
        return str(self.path)

    def describe(self, data_root: Path | None) -> str:
        """`task: role path (problem)`."""
        return f"{self.task}: {self.role} {self.shown_path(data_root)} ({self.problem})"


def task_file_problems(task: TaskConfig, verify_sha256: bool = True) -> list[FileProblem]:
    """Every file problem of one task (an empty list when it can run)."""
    spec = task.dataset
    problems = []
    if not spec.jsonl.is_file():
        problems.append(FileProblem(task.name, "dataset file", spec.jsonl, "missing"))
    elif verify_sha256 and spec.sha256 is not None:
        actual = jsonl_sha256(spec.jsonl)
        if actual != spec.sha256:
            problem = f"sha256 {actual[:12]}..., the YAML expects {spec.sha256[:12]}...: another version"
            problems.append(FileProblem(task.name, "dataset file", spec.jsonl, problem))
    if not spec.image_root.is_dir():
        problems.append(FileProblem(task.name, "image root", spec.image_root, "missing folder"))
    if spec.annotations is not None and not spec.annotations.is_file():
        problems.append(FileProblem(task.name, "annotation file", spec.annotations, "missing"))
    return problems


def file_problems(tasks: Sequence[TaskConfig], verify_sha256: bool = True) -> list[FileProblem]:
    """Every file problem of every task, in task order."""
    return [problem for task in tasks for problem in task_file_problems(task, verify_sha256)]


def refuse_missing_files(tasks: Sequence[TaskConfig], data_root: Path) -> None:
    """DatasetError listing every file problem of `tasks` (several tasks: a group run), if there is one."""
    problems = file_problems(tasks, verify_sha256=False)  # the loader checks sha256 as it reads each file
    if not problems:
        return
    listed = "\n  ".join(problem.describe(data_root) for problem in problems)
    raise DatasetError(
        f"{len(problems)} data file(s) of {len({p.task for p in problems})} of {len(tasks)} tasks are not in "
        f"place (paths relative to the data root {data_root}):\n  {listed}\n"
        "Set --data-root or MONKEYEVAL_DATA to the folder that holds them (tasks/README.md says where each "
        "comes from); `monkeyeval data check TASK_OR_GROUP` lists them again."
    )
