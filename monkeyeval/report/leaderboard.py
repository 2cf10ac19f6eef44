"""Build a leaderboard (models x tasks, plus group aggregates) from a loaded results tree.

The data lives in two long-format pandas frames: `tasks` (one row per (model, task) run, raw numbers on the
metric's native scale; `breakdown` is the run's per-category list, see `CategoryScore.to_json`; `throughput`
its scores.json throughput object, see `RunThroughput.to_json`, or None) and
`groups` (one row per (model, group), see `monkeyeval.report.groups`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from monkeyeval.core.errors import UserError
from monkeyeval.report.groups import GROUP_COLUMNS, GROUP_TUPLE_COLUMNS, aggregate_groups, group_members
from monkeyeval.results.schema import RunResult
from monkeyeval.results.tree import ResultsTree

LEADERBOARD_SCHEMA = 1
TASK_COLUMNS = (
    "model",
    "task",
    "metric",
    "metric_version",
    "aggregation",
    "score",
    "ci95_low",
    "ci95_high",
    "n",
    "n_scored",
    "n_errors",
    "n_empty",
    "n_truncated",
    "n_missing",
    "n_skipped_lines",
    "limit",
    "groups",
    "run_info",
    "breakdown",
    "throughput",
)
RUN_INFO_KEYS = (
    "checkpoint",
    "checkpoint_sha256",
    "dtype",
    "prompt_profile",
    "max_new_tokens",
    "batch_size",
    "world_size",
    "prompt_sha256",
    "git_commit",
    "created",
)
"""Run-fingerprint fields shown per run (hashes cut to 12 characters), from scores.json `fingerprint`."""
SHORT_HASH_KEYS = ("checkpoint_sha256", "prompt_sha256", "git_commit")
PREDICT_ONLY_KEYS = (
    "model",
    "task",
    "metric",
    "n",
    "n_errors",
    "n_empty",
    "n_truncated",
    "n_without_answers",
)
"""What the report lists of a `run --predict-only` run (plus its folder, `path`)."""
HEALTH_COLUMNS = ("n_errors", "n_empty", "n_truncated", "n_missing", "n_skipped_lines")


class ReportError(UserError, ValueError):
    """The report cannot be built as asked (e.g. an unknown group)."""


@dataclass
class Leaderboard:
    """Task-level and group-level results, plus the files that were skipped while loading."""

    tasks: pd.DataFrame
    groups: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    predict_only: list[dict[str, Any]] = field(default_factory=list)  # PREDICT_ONLY_KEYS per unscored run

    @property
    def models(self) -> list[str]:
        """Model names, sorted."""
        return sorted(set(self.tasks["model"]))

    @property
    def task_names(self) -> list[str]:
        """Task names, sorted."""
        return sorted(set(self.tasks["task"]))

    @property
    def group_names(self) -> list[str]:
        """Group names, sorted."""
        return sorted(set(self.groups["group"]))

    def task_row(self, model: str, task: str) -> dict[str, Any] | None:
        """The task-level row for (model, task) as a dict, or None when the model has no such run."""
        hit = self.tasks[(self.tasks["model"] == model) & (self.tasks["task"] == task)]
        return None if hit.empty else _row_dict(hit.iloc[0])

    def group_row(self, model: str, group: str) -> dict[str, Any] | None:
        """The group-level row for (model, group) as a dict, or None."""
        hit = self.groups[(self.groups["model"] == model) & (self.groups["group"] == group)]
        return None if hit.empty else _row_dict(hit.iloc[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (inverse: `Leaderboard.from_dict`)."""
        return {
            "schema": LEADERBOARD_SCHEMA,
            "tasks": [_row_dict(row) for _, row in self.tasks.iterrows()],
            "groups": [_row_dict(row) for _, row in self.groups.iterrows()],
            "problems": list(self.problems),
            "predict_only": [dict(row) for row in self.predict_only],
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Leaderboard:
        """Rebuild a leaderboard from `to_dict` output."""
        if obj.get("schema") != LEADERBOARD_SCHEMA:
            raise ReportError(f"unsupported leaderboard schema {obj.get('schema')!r}")
        tasks = [_row_from_json(row, ("groups",)) for row in obj["tasks"]]
        groups = [_row_from_json(row, GROUP_TUPLE_COLUMNS) for row in obj["groups"]]
        return cls(
            tasks=pd.DataFrame(tasks, columns=list(TASK_COLUMNS)),
            groups=pd.DataFrame(groups, columns=list(GROUP_COLUMNS)),
            problems=list(obj.get("problems", [])),
            predict_only=list(obj.get("predict_only", [])),
        )


def build_leaderboard(tree: ResultsTree, only_groups: Sequence[str] = ()) -> Leaderboard:
    """Tabulate every run of `tree`; with `only_groups`, keep only those groups and their tasks."""
    rows = [
        {
            "model": run.model,
            "task": run.task,
            "metric": run.metric,
            "metric_version": run.metric_version,
            "aggregation": run.aggregation,
            "score": run.score,
            "ci95_low": run.ci95[0] if run.ci95 else None,
            "ci95_high": run.ci95[1] if run.ci95 else None,
            "n": run.n,
            "n_scored": run.n_scored,
            "n_errors": run.n_errors,
            "n_empty": run.n_empty,
            "n_truncated": run.n_truncated,
            "n_missing": run.n_missing,
            "n_skipped_lines": run.n_skipped_lines,
            "limit": run.limit,
            "groups": tuple(run.groups),
            "run_info": run_info(run),
            "breakdown": [category.to_json() for category in run.breakdown],
            "throughput": run.throughput.to_json() if run.throughput is not None else None,
        }
        for run in tree.runs
    ]
    tasks = pd.DataFrame(rows, columns=list(TASK_COLUMNS))
    members = group_members(tasks, [run.group_members for run in tree.runs])
    if only_groups:
        unknown = sorted(set(only_groups) - set(members))
        if unknown:
            known = ", ".join(sorted(members)) or "(none: no run declares a group)"
            raise ReportError(f"unknown group(s) {', '.join(unknown)}; groups in these results: {known}")
        keep_tasks = {task for group in only_groups for task in members[group]}
        tasks = tasks[tasks["task"].isin(keep_tasks)].reset_index(drop=True)
        members = {group: members[group] for group in only_groups}
    groups = aggregate_groups(tasks, members)
    unscored = [
        {key: getattr(run, key) for key in PREDICT_ONLY_KEYS} | {"path": str(run.run_dir)}
        for run in tree.predict_only
    ]
    return Leaderboard(tasks, groups, [str(problem) for problem in tree.problems], unscored)


def run_info(run: RunResult) -> dict[str, str]:
    """The run's provenance in short strings (missing fields are empty): checkpoint, dtype, prompt profile,
    decoding and sharding settings, prompt hash, git commit, creation time."""
    model_fp = run.fingerprint.get("model")
    sources: dict[str, Any] = {**(model_fp if isinstance(model_fp, dict) else {}), "created": run.created}
    for key in ("prompt_sha256", "git_commit"):
        sources[key] = run.fingerprint.get(key)
    info = {}
    for key in RUN_INFO_KEYS:
        value = sources.get(key)
        text = "" if value is None else str(value)
        info[key] = text[:12] if key in SHORT_HASH_KEYS else text
    return info


def has_health_issue(row: dict[str, Any]) -> bool:
    """True when a run had errors, empty outputs, truncations, missing samples or skipped dataset lines."""
    return any(int(row.get(key) or 0) > 0 for key in HEALTH_COLUMNS)


def _row_dict(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, tuple):
            out[str(key)] = list(value)
        elif value is None or (isinstance(value, float) and pd.isna(value)):
            out[str(key)] = None
        elif hasattr(value, "item"):
            out[str(key)] = value.item()  # numpy scalar -> Python
        else:
            out[str(key)] = value
    return out


def _row_from_json(row: dict[str, Any], tuple_keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: (tuple(value) if key in tuple_keys else value) for key, value in row.items()}
