"""Group aggregation: macro and micro means of a group's tasks, per model.

Rules (also shown in every report's legend):

* A group's members are every task that names the group in its `scores.json` `groups` list, for any model.
* Only tasks whose primary metric aggregates as `mean` (fractions in [0, 1]) are averaged. Tasks with `sum`
  (OCRBench counts) or `corpus` (CIDEr) metrics are listed as `excluded`; a group with no `mean` task has no
  average at all.
* `macro` is the plain mean of the task scores; `micro` is the mean weighted by each run's `n` (samples).
* A model that lacks a run for any averaged member task is **incomplete**: `macro` and `micro` are None
  (never a partial average), `complete` is False and `missing` names the absent tasks.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

GROUP_COLUMNS = (
    "model",
    "group",
    "macro",
    "micro",
    "n",
    "complete",
    "tasks",
    "present",
    "missing",
    "excluded",
)


def group_members(tasks: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Group name -> sorted member task names, from the `groups` column of the task frame."""
    members: dict[str, set[str]] = {}
    for task, groups in zip(tasks["task"], tasks["groups"], strict=True):
        for group in groups:
            members.setdefault(group, set()).add(task)
    return {group: tuple(sorted(names)) for group, names in sorted(members.items())}


def aggregate_groups(tasks: pd.DataFrame, members: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    """One row per (model, group) with macro/micro means over the group's `mean`-metric tasks."""
    fraction_tasks = set(tasks.loc[tasks["aggregation"] == "mean", "task"])
    rows = []
    for model in sorted(set(tasks["model"])):
        own = tasks[tasks["model"] == model].set_index("task")
        for group, names in members.items():
            averaged = tuple(name for name in names if name in fraction_tasks)
            excluded = tuple(name for name in names if name not in fraction_tasks)
            present = tuple(
                name for name in averaged if name in own.index and own.at[name, "aggregation"] == "mean"
            )
            missing = tuple(name for name in averaged if name not in present)
            complete = bool(averaged) and not missing
            macro = micro = None
            total_n = int(sum(int(own.at[name, "n"]) for name in present))
            if complete:
                scores = [float(own.at[name, "score"]) for name in present]
                weights = [int(own.at[name, "n"]) for name in present]
                macro = sum(scores) / len(scores)
                micro = (
                    sum(s * w for s, w in zip(scores, weights, strict=True)) / total_n if total_n else None
                )
            rows.append(
                {
                    "model": model,
                    "group": group,
                    "macro": macro,
                    "micro": micro,
                    "n": total_n,
                    "complete": complete,
                    "tasks": averaged,
                    "present": present,
                    "missing": missing,
                    "excluded": excluded,
                }
            )
    return pd.DataFrame(rows, columns=list(GROUP_COLUMNS))
