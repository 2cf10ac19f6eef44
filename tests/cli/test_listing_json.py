"""`tasks --json` / `metrics --json`: machine-readable listings, sources relative to the package."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.metrics.registry import load_metric_registry
from monkeyeval.tasks.registry import TaskRegistry


def invoke_json(*args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(build_app(), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


def test_tasks_json_lists_every_registered_task_with_its_settings() -> None:
    rows = invoke_json("tasks", "--json")
    registry = TaskRegistry.discover([], data_root=None)
    assert [row["task"] for row in rows] == [task.name for task in registry.tasks()]
    by_name = {row["task"]: row for row in rows}
    for task in registry.tasks():
        row = by_name[task.name]
        assert row["metrics"] == list(task.metrics)
        assert row["max_new_tokens"] == task.max_new_tokens
        assert row["groups"] == list(task.groups)
        assert str(row["source"]).startswith("tasks/") and str(row["source"]).endswith(".yaml")


def test_tasks_json_of_one_group() -> None:
    rows = invoke_json("tasks", "--json", "--group", "demo_suite")
    assert [row["task"] for row in rows] == ["demo"]


def test_metrics_json_names_aliases_and_package_relative_sources() -> None:
    rows = invoke_json("metrics", "--json")
    registry = load_metric_registry()
    assert sorted(str(row["metric"]) for row in rows) == sorted(m.name for m in registry.all())
    aliases = {alias for row in rows for alias in row["aliases"]}  # type: ignore[attr-defined]
    assert aliases == set(registry.aliases())
    for row in rows:
        source = str(row["source"])
        assert source.startswith("metrics/") and source.endswith(".py"), source
        assert row["aggregation"] == registry.get(str(row["metric"])).aggregation
