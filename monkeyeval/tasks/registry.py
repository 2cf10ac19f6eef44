"""Task discovery: built-in tasks, $MONKEYEVAL_TASKS_PATH and --tasks-dir folders; groups; name lookup."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from monkeyeval.core.errors import UserError
from monkeyeval.core.paths import builtin_dir
from monkeyeval.tasks.config import TaskConfig
from monkeyeval.tasks.loader import DataRoot, MetricLookup, is_template, load_task_file, resolve_data_root
from monkeyeval.tasks.yaml_source import TaskConfigError, did_you_mean

TASKS_PATH_ENV = "MONKEYEVAL_TASKS_PATH"


class UnknownTaskError(UserError, KeyError):
    """A task or group name that no discovered YAML defines (message lists close names)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown task"


def task_dirs(extra_dirs: Sequence[Path] = ()) -> list[Path]:
    """Search order: the built-in tasks, then $MONKEYEVAL_TASKS_PATH entries, then `extra_dirs`."""
    dirs = [builtin_dir("tasks")]
    env = os.environ.get(TASKS_PATH_ENV, "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p.strip()]
    dirs += [Path(p) for p in extra_dirs]
    unique: list[Path] = []
    for folder in dirs:
        resolved = folder.expanduser().resolve()
        if resolved not in unique:
            unique.append(resolved)
    return unique


def yaml_files(folder: Path) -> list[Path]:
    """Task files under `folder` (recursive, sorted), without `_*.yaml` templates and hidden paths."""
    found = []
    for path in folder.rglob("*"):
        if path.suffix not in (".yaml", ".yml") or is_template(path) or not path.is_file():
            continue
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue  # e.g. .ipynb_checkpoints/ copies would otherwise be duplicate tasks
        found.append(path)
    return sorted(found)


@dataclass(frozen=True)
class TaskRegistry:
    """All discovered tasks (by name, in discovery order) and the groups they declare."""

    by_name: dict[str, TaskConfig]
    data_root: DataRoot
    searched: tuple[Path, ...] = ()

    @classmethod
    def discover(
        cls,
        extra_dirs: Sequence[Path] = (),
        data_root: Path | None = None,
        metrics: MetricLookup | None = None,
    ) -> TaskRegistry:
        """Load every task YAML from the built-in dir, $MONKEYEVAL_TASKS_PATH and `extra_dirs`.

        Raises TaskConfigError for a missing folder, an invalid file, or a task name defined twice (naming
        both files). `metrics` defaults to the metric registry (`load_metric_registry()`).
        """
        root = resolve_data_root(data_root)
        if metrics is None:
            from monkeyeval.metrics.registry import load_metric_registry

            metrics = load_metric_registry()
        dirs = task_dirs(extra_dirs)
        by_name: dict[str, TaskConfig] = {}
        for folder in dirs:
            if not folder.is_dir():
                raise TaskConfigError(
                    f"task folder {folder} does not exist (from --tasks-dir or ${TASKS_PATH_ENV})"
                )
            for path in yaml_files(folder):
                task = load_task_file(path, root, metrics)
                if task.name in by_name:
                    raise TaskConfigError(
                        f"task name {task.name!r} is defined twice: in {by_name[task.name].source} "
                        f"and in {path}; "
                        "rename one of them (key 'task')"
                    )
                by_name[task.name] = task
        registry = cls(by_name=by_name, data_root=root, searched=tuple(dirs))
        registry._check_group_names()
        groups = {group: tuple(names) for group, names in registry.groups().items()}
        for name, task in by_name.items():
            by_name[name] = replace(task, group_members={group: groups[group] for group in task.groups})
        return registry

    def _check_group_names(self) -> None:
        """A group may not share a name with a task, except a group holding only that task (`ocrbench`)."""
        for group, members in self.groups().items():
            if group in self.by_name and members != [group]:
                raise TaskConfigError(
                    f"group name {group!r} (declared by {self.by_name[members[0]].source}) "
                    "is also a task name "
                    f"(in {self.by_name[group].source}); rename one of them"
                )

    def tasks(self) -> list[TaskConfig]:
        """Every task, in discovery order."""
        return list(self.by_name.values())

    def groups(self) -> dict[str, list[str]]:
        """Group (and tag) name -> member task names, in discovery order."""
        groups: dict[str, list[str]] = {}
        for task in self.by_name.values():
            for group in task.groups:
                groups.setdefault(group, []).append(task.name)
        return groups

    def get(self, name: str) -> TaskConfig:
        """The task called `name`; UnknownTaskError with close names otherwise."""
        try:
            return self.by_name[name]
        except KeyError:
            raise UnknownTaskError(self._unknown_message(name)) from None

    def resolve(self, names: Sequence[str] | Iterable[str]) -> list[TaskConfig]:
        """Task and group names -> tasks, de-duplicated, in the order given (group members in group order).

        Each name may be a comma list (`demo,ocrbench`, as lm-eval's `--tasks` takes); names hold no comma.
        """
        groups = self.groups()
        picked: dict[str, TaskConfig] = {}
        for name in (part.strip() for entry in names for part in entry.split(",") if part.strip()):
            if name in self.by_name:
                picked.setdefault(name, self.by_name[name])
            elif name in groups:
                for member in groups[name]:
                    picked.setdefault(member, self.by_name[member])
            else:
                raise UnknownTaskError(self._unknown_message(name))
        return list(picked.values())

    def _unknown_message(self, name: str) -> str:
        candidates = [*self.by_name, *self.groups()]
        searched = ", ".join(str(p) for p in self.searched)
        return (
            f"unknown task or group {name!r}{did_you_mean(name, candidates)}; run `monkeyeval tasks` to list "
            f"them (searched {searched}; add folders with --tasks-dir or ${TASKS_PATH_ENV})"
        )
