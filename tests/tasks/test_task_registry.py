"""Task discovery order, duplicates, templates and group resolution."""

from __future__ import annotations

import os

import pytest

from monkeyeval.core.paths import builtin_dir
from monkeyeval.tasks.registry import TaskRegistry, UnknownTaskError, task_dirs
from monkeyeval.tasks.yaml_source import TaskConfigError


def task_yaml(name: str, group: str | None = None, max_new_tokens: int = 10) -> str:
    text = f"task: {name}\ndataset: {{jsonl: {name}.jsonl}}\nmetric: anls_docvqa\n"
    text += f"max_new_tokens: {max_new_tokens}\n"
    return text + (f"group: {group}\n" if group else "")


@pytest.fixture
def two_dirs(write, tmp_path):
    write("one/a.yaml", task_yaml("task_a", "grp"))
    write("one/nested/b.yaml", task_yaml("task_b", "grp"))
    write("one/_template.yaml", "this: is not a task\n")
    write("one/.ipynb_checkpoints/a-checkpoint.yaml", task_yaml("task_a", "grp"))
    write("two/c.yml", task_yaml("task_c", "other"))
    return tmp_path / "one", tmp_path / "two"


def test_discovery_order_env_then_extra(two_dirs, metrics, monkeypatch):
    one, two = two_dirs
    monkeypatch.setenv("MONKEYEVAL_TASKS_PATH", str(two))
    assert task_dirs([one]) == [builtin_dir("tasks").resolve(), two.resolve(), one.resolve()]
    registry = TaskRegistry.discover([one], metrics=metrics)
    names = [t.name for t in registry.tasks()]
    assert "demo" in names  # built-ins first
    assert names[-3:] == ["task_c", "task_a", "task_b"]
    assert registry.get("task_a").source == (one / "a.yaml").resolve()


def test_env_path_with_several_entries(two_dirs, metrics, monkeypatch):
    one, two = two_dirs
    monkeypatch.setenv("MONKEYEVAL_TASKS_PATH", os.pathsep.join([str(one), "", str(two)]))
    registry = TaskRegistry.discover(metrics=metrics)
    assert {"task_a", "task_b", "task_c"} <= set(registry.by_name)


def test_templates_are_not_tasks(two_dirs, metrics):
    registry = TaskRegistry.discover([two_dirs[0]], metrics=metrics)
    assert all(t.source.name != "_template.yaml" for t in registry.tasks())


def test_duplicate_names_across_dirs_name_both_files(write, metrics, tmp_path):
    first = write("x/t.yaml", task_yaml("dup"))
    second = write("y/t.yaml", task_yaml("dup"))
    with pytest.raises(TaskConfigError) as info:
        TaskRegistry.discover([tmp_path / "x", tmp_path / "y"], metrics=metrics)
    message = str(info.value)
    assert "'dup'" in message and str(first) in message and str(second) in message


def test_user_task_cannot_shadow_builtin(write, metrics, tmp_path):
    write("x/demo.yaml", task_yaml("demo"))
    with pytest.raises(TaskConfigError, match="defined twice"):
        TaskRegistry.discover([tmp_path / "x"], metrics=metrics)


def test_missing_tasks_dir(metrics, tmp_path):
    with pytest.raises(TaskConfigError, match="does not exist"):
        TaskRegistry.discover([tmp_path / "nope"], metrics=metrics)


def test_invalid_file_fails_discovery_with_its_name(write, metrics, tmp_path):
    bad = write("x/bad.yaml", "task: bad\n")
    with pytest.raises(TaskConfigError, match=str(bad)):
        TaskRegistry.discover([tmp_path / "x"], metrics=metrics)


def test_groups_and_resolve(two_dirs, metrics):
    registry = TaskRegistry.discover(list(two_dirs), metrics=metrics)
    groups = registry.groups()
    assert groups["grp"] == ["task_a", "task_b"]
    assert groups["other"] == ["task_c"]
    resolved = registry.resolve(["task_b", "grp", "other", "task_c"])
    assert [t.name for t in resolved] == ["task_b", "task_a", "task_c"]
    commas = registry.resolve(["task_b, grp", "other,,task_c"])  # lm-eval's comma lists, spaces allowed
    assert [t.name for t in commas] == ["task_b", "task_a", "task_c"]
    assert registry.get("task_a").group_members == {"grp": ("task_a", "task_b")}  # the definition travels


def test_unknown_task_suggests(two_dirs, metrics):
    registry = TaskRegistry.discover(list(two_dirs), metrics=metrics)
    with pytest.raises(UnknownTaskError) as info:
        registry.get("task_aa")
    assert "task_a" in str(info.value) and "monkeyeval tasks" in str(info.value)
    with pytest.raises(UnknownTaskError, match="grpp"):
        registry.resolve(["grpp"])


def test_group_named_like_another_task_is_an_error(write, metrics, tmp_path):
    write("x/a.yaml", task_yaml("alpha", group="beta"))
    write("x/b.yaml", task_yaml("beta"))
    with pytest.raises(TaskConfigError, match="also a task name"):
        TaskRegistry.discover([tmp_path / "x"], metrics=metrics)


def test_data_root_passed_through(two_dirs, metrics, tmp_path):
    registry = TaskRegistry.discover([two_dirs[0]], data_root=tmp_path / "d", metrics=metrics)
    assert registry.get("task_a").dataset.jsonl == tmp_path / "d" / "task_a.jsonl"
    assert registry.data_root.source == "--data-root"
