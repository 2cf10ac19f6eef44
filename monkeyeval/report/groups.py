"""Group aggregation: macro and micro means of a group's tasks, per model.

Rules (also shown in every report's legend):

* A group's members are every task of its definition (the `group_members` each scores.json records from the
  task registry that ran it) plus any task that names the group in its `groups` list.
* A model's group mean needs every member: a member with no run (`missing`) or only a `--limit` run
  (`limited`) makes the group **incomplete** for that model: `macro` and `micro` are None (never a partial
  average), `complete` is False and the report shows "k of n tasks".
* Only tasks whose primary metric aggregates as `mean` (fractions in [0, 1]) are averaged. Tasks with `sum`
  (OCRBench counts) or `corpus` (CIDEr) metrics are listed as `excluded`; a group with no `mean` task has no
  average at all.
* `macro` is the plain mean of the task scores; `micro` is the mean weighted by each run's `n` (samples).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

GROUP_COLUMNS = (
    "model",
    "group",
    "macro",
    "micro",
    "n",
    "complete",
    "tasks",
    "averaged",
    "present",
    "missing",
    "limited",
    "excluded",
)
GROUP_TUPLE_COLUMNS = ("tasks", "averaged", "present", "missing", "limited", "excluded")


def group_members(
    tasks: pd.DataFrame, definitions: Iterable[Mapping[str, Iterable[str]]] = ()
) -> dict[str, tuple[str, ...]]:
    """Group name -> sorted member task names: the recorded `definitions` plus the task frame's `groups`."""
    members: dict[str, set[str]] = {}
    for task, groups in zip(tasks["task"], tasks["groups"], strict=True):
        for group in groups:
            members.setdefault(group, set()).add(task)
    for definition in definitions:
        for group, names in definition.items():
            members.setdefault(group, set()).update(names)
    return {group: tuple(sorted(names)) for group, names in sorted(members.items())}


def aggregate_groups(tasks: pd.DataFrame, members: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    """One row per (model, group) with macro/micro means over the group's `mean`-metric tasks."""
    non_mean = set(tasks.loc[tasks["aggregation"] != "mean", "task"])
    rows = []
    for model in sorted(set(tasks["model"])):
        own = tasks[tasks["model"] == model].set_index("task")
        for group, names in members.items():
            excluded = tuple(name for name in names if name in non_mean)
            ran = tuple(name for name in names if name in own.index)
            limited = tuple(name for name in ran if _is_limited(own.at[name, "limit"]))
            present = tuple(name for name in ran if name not in limited)
            missing = tuple(name for name in names if name not in own.index)
            averaged = tuple(name for name in present if own.at[name, "aggregation"] == "mean")
            complete = not missing and not limited
            total_n = int(sum(int(own.at[name, "n"]) for name in averaged))
            macro = micro = None
            if complete and averaged:
                scores = [float(own.at[name, "score"]) for name in averaged]
                weights = [int(own.at[name, "n"]) for name in averaged]
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
                    "tasks": names,
                    "averaged": averaged,
                    "present": present,
                    "missing": missing,
                    "limited": limited,
                    "excluded": excluded,
                }
            )
    return pd.DataFrame(rows, columns=list(GROUP_COLUMNS))


def _is_limited(value: object) -> bool:
    """True for a run's `limit` cell holding a number (None / NaN: the whole dataset)."""
    return value is not None and not pd.isna(value)
